"""`rightmodel distill TASK` for a generative task: captures → LoRA candidate with a card.

The pairs (distill/generative.py) go through the same pipeline as `train --kind generate`
(generative/pipeline.py): LoRA on the training pairs, merged, exported to GGUF, the acceptance
threshold calibrated on the held-out captures against the task's quality bar, registered as a
candidate. Here "right" means *agrees with the frontier* by that bar: the held-out answers are
the frontier's. The held-out captures both choose the threshold and measure it, so the card's
numbers at the threshold are cross-fitted (each half's threshold scored on the other half), as
for classifiers (distill/cli.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightmodel.distill.generative import GenerativeSet
from rightmodel.errors import ConfigError


@dataclass(frozen=True)
class GenerativeRecipe:
    base: Path
    quality: str = "exact"
    target: float = 0.95
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 13
    json_schema: dict[str, Any] | None = None
    max_tokens: int = 256  # the longest answer generated on the held-out captures (as the clients' max_tokens)


def check_enough(data: GenerativeSet, min_examples: int, task: str) -> None:
    """Refuse, saying what is missing, before minutes of training are spent on too little."""
    n = len(data.train) + len(data.heldout)
    if n >= min_examples and len(data.heldout) >= 2 and len(data.train) >= 2:
        return
    why = "; ".join(f"{why} ×{count}" for why, count in data.unusable_examples[:3])
    raise ConfigError(
        f"too little to distill task {task!r} as a generative task: {data.captured} captures gave {n} distinct prompts "
        f"({len(data.train)} train, {len(data.heldout)} held out; need {min_examples} and at least 2 on each side)"
        + (f"; {data.unusable} unusable ({why})" if data.unusable else "")
        + ". Send more traffic with capture on, or lower --min-examples / raise --heldout."
    )


def write_jsonl(path: Path, conversations: list[list[dict[str, str]]]) -> Path:
    """OpenAI chat fine-tuning JSONL: what generative/pairs.py reads, and what a user can inspect."""
    path.write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in conversations), encoding="utf-8")
    return path


def distill_generative(task: str, data: GenerativeSet, work: Path, recipe: GenerativeRecipe, registry,
                       log: Callable[[str], None] = lambda _m: None) -> tuple[Any, dict[str, Any]]:
    """Train, calibrate and register the candidate; returns (version, card)."""
    from rightmodel.generative.acceptance import QualityBar
    from rightmodel.generative.lora import LoraSettings
    from rightmodel.generative.pipeline import build_generative, register_generative

    bar = QualityBar.parse(recipe.quality)
    defaults = LoraSettings()
    settings = LoraSettings(epochs=recipe.epochs or defaults.epochs, batch_size=recipe.batch_size or defaults.batch_size,
                            learning_rate=recipe.learning_rate if recipe.learning_rate is not None else defaults.learning_rate,
                            seed=recipe.seed)
    train = write_jsonl(work / "train.jsonl", data.train)
    heldout = write_jsonl(work / "heldout.jsonl", data.heldout)
    split = (f"captures split by a stable hash of the prompt: {len(data.heldout)} held out (never trained on) calibrate the "
             f"threshold and measure agreement with the frontier ({bar}); the numbers at the threshold cross-fitted")
    card = build_generative(task, train, recipe.base, work / "model", settings, log=log, calibration_data=heldout, quality=bar,
                            target=recipe.target, json_schema=recipe.json_schema, crossfit=True, split=split,
                            max_tokens=recipe.max_tokens)
    cal = card["acceptance"]["calibration"]
    card["distilled"] = {**data.summary(), "agreement": cal.get("all_pass_rate"), "mean_metric": cal.get("all_mean_metric"),
                         "quality_bar": str(bar)}
    (work / "model" / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return register_generative(registry, task, work / "model", card), card


def describe(card: dict[str, Any]) -> list[str]:
    """What the user reads after a generative distillation: agreement, coverage, the threshold."""
    acc = card["acceptance"]
    cal, cross = acc["calibration"], acc.get("test") or {}
    pct = lambda x: "n/a" if x is None else f"{x:.1%}"  # noqa: E731
    return [
        f"agreement with the frontier ({acc['quality_bar']}) on {cal['n_calibration']} held-out captures it never trained on: "
        f"{pct(cal.get('all_pass_rate'))} of its answers (mean metric {pct(cal.get('all_mean_metric'))})",
        f"threshold {acc['threshold']:.4f} (target {acc['target']:.0%}): cross-fitted coverage {pct(cross.get('coverage'))} "
        f"at {pct(cross.get('accepted_pass_rate'))} agreement",
        f"training {card['training']['seconds']:.0f} s ({card['training']['steps']} steps), served file {card['served_file']}",
    ]
