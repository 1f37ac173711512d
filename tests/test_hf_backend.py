"""The Hugging Face backend with a tiny random-init GPT-Neo (no download)."""

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")

from skillit.build import build_network
from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.train import train

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
