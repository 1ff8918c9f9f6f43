"""`make demo`: build the Banking77 specialist on the bundled base model and show what it does.

Trains only when the registry has no production version of the task yet, so a second run is
quick. Scores come from the official Banking77 test split, which training never sees.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

TASK = "support-intent"


def main() -> None:
    from rightmodel.cli import golden_scorer_factory, print_version_summary, TrainingProgress
    from rightmodel.data.shipped import datasets_root
    from rightmodel.registry import Registry
    from rightmodel.specialists.pipeline import BuildRequest, build_specialist
    from rightmodel.specialists.scoring import open_runtime

    console = Console()
    home = Path(os.environ.get("RIGHTMODEL_HOME", ".rightmodel"))
    registry = Registry(home, os.environ.get("RIGHTMODEL_DATABASE_URL"))
    root = datasets_root() / "banking77"
    production = [v for v in registry.list(TASK) if v.stage == "production"]
    if production:
        console.print(f"{production[0].ref} is already in production; `make clean` to rebuild")
        version = production[0]
    else:
        console.print(f"[bold]training {TASK} on Banking77[/] (official train split; scored on the official test split)")
        request = BuildRequest(task=TASK, train_path=root / "train.csv", eval_path=root / "test.csv")
        with TrainingProgress(Console(stderr=True)) as progress:
            version = build_specialist(request, registry, progress=progress, log=console.print)
        registry.promote(version.ref, scorer=golden_scorer_factory(registry, version.ref))
        version = registry.get(version.ref)
    print_version_summary(version)
    _, runtime, threshold = open_runtime(registry, TASK)
    examples = [
        "I still have not received my new card, what should I do?",
        "Why was I charged a fee for withdrawing cash?",
        "hey can u help",
    ]
    console.print("\n[bold]examples[/] (answer locally when confidence >= threshold, else escalate):")
    for text, pred in zip(examples, runtime.predict(examples)):
        route = "[green]local[/]" if pred.confidence >= threshold else "[yellow]escalate[/]"
        console.print(f"  {text!r} → {pred.labels[0]} ({pred.confidence:.3f}) {route}")


if __name__ == "__main__":
    main()
