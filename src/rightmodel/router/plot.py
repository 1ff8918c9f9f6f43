"""PGR curves as an image (PNG or SVG by file suffix), beside random and oracle routing.

matplotlib is imported here only, with the non-interactive Agg backend, so nothing else in the
router package (nor the gateway) pays for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rightmodel.errors import ConfigError
from rightmodel.router.metrics import RoutingCurve, random_curve

FORMATS = (".png", ".svg")


def plot_pgr(curves: Mapping[str, RoutingCurve], oracle: RoutingCurve, path: str | Path, title: str) -> Path:
    """One line per router (label shows APGR), the random diagonal and the oracle, PGR vs share."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"plot file {path.name}: use a .png or .svg name")
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("plotting needs matplotlib: pip install 'rightmodel[train]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 5.0), dpi=110)
    any_curve = next(iter(curves.values()), oracle)
    rnd = random_curve(any_curve.weak_quality, any_curve.strong_quality)
    ax.plot(100 * oracle.strong_share, oracle.pgr, color="0.55", linestyle=":", label=f"oracle (APGR {oracle.apgr():.3f})")
    ax.plot(100 * rnd.strong_share, rnd.pgr, color="0.3", linestyle="--", label="random (APGR 0.500)")
    for name, curve in curves.items():
        ax.plot(100 * curve.strong_share, curve.pgr, linewidth=1.6, label=f"{name} (APGR {curve.apgr():.3f})")
    ax.axhline(0.5, color="0.85", linewidth=0.8, zorder=0)
    ax.axhline(0.8, color="0.85", linewidth=0.8, zorder=0)
    ax.set_xlim(0, 100)
    ax.set_ylim(min(-0.05, float(min(c.pgr.min() for c in curves.values())) if curves else -0.05),
                max(1.05, float(oracle.pgr.max()) + 0.05))
    ax.set_xlabel("calls to the strong model (%)")
    ax.set_ylabel("performance gap recovered (PGR)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=path.suffix.lower()[1:], metadata={"Date": None} if path.suffix.lower() == ".svg" else None)
    plt.close(fig)
    return path
