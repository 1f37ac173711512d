"""Optional backend: a Hugging Face causal LM (e.g. GPT-Neo, the paper's model).

Loaded only from local files (`model.hf_path`, a folder with config.json and weights) or built with
random weights from a config (`model.hf_config`, e.g. {model_type: gpt_neo, hidden_size: 768, ...}).
Nothing is downloaded. The embedding matrix is sized to the run's tokenizer: with a model folder
that holds its tokenizer.json, the data is tokenized with it (skillit.build.model_tokenizer), so a
pretrained model keeps its own embeddings.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from skillit.errors import SkillitError


class HFCausalLM(nn.Module):
    """Adapter: token ids (B, T) -> logits (B, T, vocab), like skillit's own GPT."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # no key/value cache: training and scoring read each window once
        return self.model(input_ids=input_ids, use_cache=False).logits


def build_hf_network(cfg, vocab_size: int) -> HFCausalLM:
    try:
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError as exc:
        raise SkillitError(
            "model.backend=hf needs transformers: pip install 'skillit[hf]'"
        ) from exc
    if cfg.hf_path:
        path = Path(cfg.hf_path).expanduser()
        if not (path / "config.json").is_file():
            raise SkillitError(
                f"model.hf_path={path} is not a folder with a config.json (a local model)"
            )
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
        model.train()  # from_pretrained returns eval mode; Lightning keeps the mode it finds
        if model.get_input_embeddings().num_embeddings != vocab_size:
            model.resize_token_embeddings(vocab_size)
    else:
        settings = dict(cfg.hf_config)
        model_type = settings.pop("model_type", None)
        if not model_type:
            raise SkillitError("model.hf_config needs a model_type, e.g. gpt_neo")
        try:
            config = AutoConfig.for_model(model_type, **settings)
        except (ValueError, TypeError) as exc:
            raise SkillitError(
                f"model.hf_config is not a valid {model_type} config: {exc}"
            ) from exc
        config.vocab_size = vocab_size
        try:
            model = AutoModelForCausalLM.from_config(config)
        except (ValueError, TypeError) as exc:  # e.g. an attention implementation it lacks
            raise SkillitError(f"model.hf_config cannot build a {model_type} model: {exc}") from exc
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and cfg.max_seq_len > positions:
        raise SkillitError(
            f"model.max_seq_len={cfg.max_seq_len} exceeds the model's max_position_embeddings={positions}"
        )
    return HFCausalLM(model)
