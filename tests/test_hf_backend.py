"""The Hugging Face backend with a tiny random-init GPT-Neo (no download)."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")

from skillit.build import build_network
from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.training import train

TINY_NEO = (
    "model.hf_config={model_type: gpt_neo, hidden_size: 32, num_layers: 2, num_heads: 2, "
    "attention_types: [[[global, local], 1]], max_position_embeddings: 64, window_size: 16}"
)


@pytest.fixture
def tiny_cfg(tiny_config):
    """The tiny LEGO run on a random-init GPT-Neo through the Hugging Face backend."""
    return lambda *extra: tiny_config(
        "model.backend=hf",
        TINY_NEO,
        "model.max_seq_len=32",
        "data.lego.fmt=chain",
        "data.global_batch_size=8",
        "trainer.max_steps=30",
        "mixing.rounds=2",
        "mixing.plots=false",
        *extra,
    )


@pytest.mark.slow  # trains a model
def test_a_random_init_gpt_neo_trains_through_skillit(tmp_path, tiny_cfg):
    cfg = tiny_cfg("optim.lr=0.005", "optim.warmup_steps=5")
    start = build_network(cfg, 40)
    assert type(start.model).__name__ == "GPTNeoForCausalLM"
    result = train(cfg)
    assert result.global_step == 30
    assert torch.isfinite(torch.tensor(result.loss)).all()


def test_a_local_pretrained_folder_loads_without_a_download(tmp_path, tiny_cfg):
    cfg = tiny_cfg()
    net = build_network(cfg, 40)
    net.model.save_pretrained(tmp_path / "neo")
    local = load_config(
        [], ["model.backend=hf", f"model.hf_path={tmp_path / 'neo'}", "model.max_seq_len=32"]
    )
    loaded = build_network(local, 40)
    ids = torch.randint(0, 40, (2, 10))
    net.eval()
    loaded.eval()
    torch.testing.assert_close(net(ids), loaded(ids))


def test_a_missing_local_model_is_a_clear_error(tmp_path, tiny_cfg):
    cfg = load_config([], ["model.backend=hf", f"model.hf_path={tmp_path / 'absent'}"])
    with pytest.raises(SkillitError, match="model.hf_path"):
        build_network(cfg, 40)


def test_a_config_the_model_class_refuses_is_a_clear_error_naming_the_key(tiny_cfg):
    cfg = tiny_cfg(TINY_NEO[:-1] + ", attn_implementation: no_such_attention}")
    with pytest.raises(SkillitError, match="model.hf_config cannot build a gpt_neo model"):
        build_network(cfg, 40)


def test_the_training_forward_builds_no_key_value_cache(tiny_cfg):
    network = build_network(tiny_cfg(), 40)
    seen = []
    network.model.register_forward_hook(lambda m, args, out: seen.append(out.past_key_values))
    network(torch.zeros(2, 8, dtype=torch.long))
    assert seen == [None]


@pytest.fixture
def local_model_folder(tmp_path, tiny_cfg):
    """A folder as a user has it for GPT-Neo: config, weights and its own BPE tokenizer.json."""
    from skillit.utils.tokenization import save_tokenizer, train_byte_bpe
    from synthetic import lego
    from synthetic.common import validation_set

    texts = validation_set(lego.LegoTask(3, "chain", "paper", "last"), size=50, seed=5).texts()
    tokenizer = train_byte_bpe(texts, vocab_size=300, min_frequency=1)
    folder = tmp_path / "neo"
    cfg = tiny_cfg()
    net = build_network(cfg, tokenizer.get_vocab_size())
    net.model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder / "tokenizer.json")
    return folder, tokenizer


def test_a_local_model_reads_synthetic_text_in_its_own_tokens(local_model_folder, tiny_cfg):
    from skillit.build import build_source
    from skillit.sources.rendered import RenderedSource

    folder, tokenizer = local_model_folder
    cfg = tiny_cfg(f"model.hf_path={folder}", "model.hf_config=null", "data.lego.fmt=paper")
    source = build_source(cfg)
    assert isinstance(source, RenderedSource) and source.tokenizer.get_vocab_size() == 300
    rendered = source.inner.validation_samples(0)
    ex = source.validation_examples(0)
    for r in range(5):
        ids = ex.input_ids[r][ex.input_ids[r] != source.pad_id]
        assert tokenizer.decode(ids.tolist()) == rendered.texts()[r]  # the same text, other tokens
        answer = ex.input_ids[r][ex.loss_mask[r]]
        assert tokenizer.decode(answer.tolist()).strip() == rendered.answers()[r]
    # the model keeps its own embedding matrix: nothing is resized to the generator's vocabulary
    network = build_network(cfg, source.tokenizer.get_vocab_size())
    assert network.model.get_input_embeddings().num_embeddings == 300


@pytest.mark.slow  # trains a model
def test_a_local_model_trains_on_its_own_tokens(local_model_folder, tiny_cfg):
    folder, _ = local_model_folder
    cfg = tiny_cfg(f"model.hf_path={folder}", "model.hf_config=null", "data.lego.fmt=paper")
    result = train(cfg)
    assert result.global_step == 30 and np.isfinite(result.loss).all()


def test_a_pretrained_model_is_built_in_training_mode(local_model_folder, tiny_cfg):
    folder, _ = local_model_folder
    network = build_network(tiny_cfg(f"model.hf_path={folder}", "model.hf_config=null"), 300)
    assert network.model.training  # Lightning does not switch it: dropout would stay off
