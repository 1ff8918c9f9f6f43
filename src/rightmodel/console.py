"""What the command line shows while a specialist trains and once a version is registered
(`rightmodel train`, `rightmodel distill`, the demo)."""

from __future__ import annotations

from rich.console import Console


class InterruptHandler:
    """SIGINT/SIGTERM raise KeyboardInterrupt and are remembered: an interrupt that lands while a
    library's __del__ runs is swallowed there ("Exception ignored in ..."), so long loops
    (TrainingProgress.update, once per step) ask again and raise it where it cannot be lost."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True
        raise KeyboardInterrupt

    @staticmethod
    def unraisable(info: object) -> None:
        """sys.unraisablehook: an interrupt swallowed by a __del__ is re-raised by the next
        raise_if_interrupted(), so Python's "Exception ignored ... Traceback" is noise; others print."""
        import sys

        if isinstance(getattr(info, "exc_value", None), KeyboardInterrupt):
            return
        sys.__unraisablehook__(info)


def raise_if_interrupted() -> None:
    """Re-raise an interrupt the installed InterruptHandler saw but that did not unwind."""
    import signal

    if getattr(signal.getsignal(signal.SIGINT), "requested", False):
        raise KeyboardInterrupt


class TrainingProgress:
    """A rich progress bar with ETA for training steps; a no-op when stderr is not a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = None
        self.task_id = None
        self.last_epoch = 0

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]training[/] epoch {task.fields[epoch]} loss {task.fields[loss]:.4f}"),
            BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False, disable=not self.console.is_terminal,
        )
        self.bar.__enter__()
        return self.update

    def update(self, step: int, total: int, info: dict) -> None:
        raise_if_interrupted()
        if self.task_id is None:
            self.task_id = self.bar.add_task("train", total=total, epoch=1, loss=0.0)
        self.bar.update(self.task_id, completed=step, epoch=info.get("epoch", 0), loss=info.get("loss", 0.0))
        if not self.console.is_terminal and info.get("epoch", 0) != self.last_epoch and step > 1:
            self.console.print(f"epoch {self.last_epoch} done, step {step}/{total}, loss {info.get('loss', 0):.4f}")
        self.last_epoch = info.get("epoch", 0)

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def print_version_summary(version) -> None:
    from rightmodel.evaluate.card import read_card

    card = read_card(version.path)
    m, cal, q = card["metrics"], card["calibration"], card["int8_vs_fp32"]
    on_eval = card["calibration_on_eval"]
    console = Console()
    console.print(f"[green]registered {version.ref}[/] (stage {version.stage}) at {version.path}")
    console.print(
        f"held-out ({card['data']['n_eval']}): accuracy {m['accuracy']:.4f}  micro-F1 {m['micro_f1']:.4f}  "
        f"macro-F1 {m['macro_f1']:.4f}  (int8 vs fp32 {q['accuracy_delta_points']:+.2f} pts)"
    )
    console.print(
        f"threshold {cal['threshold']:.5f} for {cal['target_accuracy']:.0%} accepted accuracy: "
        f"coverage {on_eval['coverage']:.1%}, accepted accuracy {fmt(on_eval['accepted_accuracy'])} on held-out data"
        + (" (cross-fitted: the held-out set is also the calibration set)" if on_eval.get("crossfit") else "")
    )
    if card.get("shifted"):
        from rightmodel.evaluate.card import shift_lines

        for line in shift_lines(card)[1:]:
            console.print(f"  {line}")
    console.print(
        f"trained in {card['training']['seconds']:.0f}s; p50 {card['latency'].get('single_p50_ms')} ms, "
        f"{card['latency'].get('batched_throughput_per_s')} texts/s batched; card: {version.path / 'card.md'}"
    )


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
