"""Drift flags: a specialist version whose live accuracy or escalation rate left its band.

A band is configured per task (``tasks.X.drift`` in the constellation) or for every task
(``observability.drift``). A metric is only judged once it rests on enough evidence
(``min_feedback`` verdicts for accuracy, ``min_requests`` consultations for the escalation
rate), so a handful of early requests never raise an alarm. Accuracy here is the accuracy of
the answers the specialist served (``accepted_accuracy``): what clients received, and what its
calibrated threshold promised.

Without a configured ``accuracy_min`` a version is still held to its own promise: the target
accuracy its threshold was calibrated for (``promised``, from its card). Flagged only when the
verdicts say so with confidence (the 95% one-sided Wilson upper bound of the served answers'
accuracy is below the target), so a target of 99% is not "missed" by one wrong answer in 40.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_BAND_KEY = "*"  # bands[DEFAULT_BAND_KEY]: the band of tasks without one of their own


@dataclass(frozen=True)
class Band:
    accuracy_min: float | None = None
    escalation_rate_min: float | None = None
    escalation_rate_max: float | None = None
    min_feedback: int = 30
    min_requests: int = 50
    below_target: bool = True  # hold each version to the accuracy its threshold promised

    @property
    def empty(self) -> bool:
        return (self.accuracy_min is None and self.escalation_rate_min is None and self.escalation_rate_max is None
                and not self.below_target)


Z_ONE_SIDED_95 = 1.6448536269514722


def wilson_upper(correct: int, n: int, z: float = Z_ONE_SIDED_95) -> float:
    """One-sided Wilson score upper bound of a proportion (Wilson 1927): the true accuracy is
    below it with ~95% confidence; stays sensible near 0 and 1 where the normal bound does not."""
    if n <= 0:
        return 1.0
    p = correct / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def band_for(bands: Mapping[str, Band], task: str | None) -> Band | None:
    band = bands.get(task or "") or bands.get(DEFAULT_BAND_KEY)
    return None if band is None or band.empty else band


def drift_flags(versions: list[dict[str, Any]], bands: Mapping[str, Band],
                promised: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """One flag per (version, metric) outside its band, with the value, band and evidence size.
    ``promised``: specialist version ref -> the target accuracy its threshold was calibrated for."""
    flags = []
    for v in versions:
        band = band_for(bands, v["task"])
        if band is None:
            continue
        accuracy, n_feedback = v["accepted_accuracy"], v["accepted_feedback"]
        judged = accuracy is not None and n_feedback >= band.min_feedback
        if band.accuracy_min is not None and judged and accuracy < band.accuracy_min:
            flags.append(_flag(v, "accuracy", accuracy, (band.accuracy_min, None), n_feedback,
                               f"accuracy {accuracy:.1%} of answers served < {band.accuracy_min:.1%} (on {n_feedback} verdicts)"))
        target = (promised or {}).get(v["specialist"])
        if band.below_target and target is not None and judged:
            upper = wilson_upper(round(accuracy * n_feedback), n_feedback)
            if upper < target:
                flags.append(_flag(v, "accuracy_vs_target", accuracy, (target, None), n_feedback,
                                   f"accuracy {accuracy:.1%} of answers served is below the {target:.1%} its threshold "
                                   f"promised (95% upper bound {upper:.1%}, on {n_feedback} verdicts): recalibrate or retrain"))
        rate, consulted = v["escalation_rate"], v["consulted"]
        if rate is None or consulted < band.min_requests:
            continue
        low, high = band.escalation_rate_min, band.escalation_rate_max
        if (low is not None and rate < low) or (high is not None and rate > high):
            side = f"< {low:.1%}" if low is not None and rate < low else f"> {high:.1%}"
            flags.append(_flag(v, "escalation_rate", rate, (low, high), consulted,
                               f"escalation rate {rate:.1%} {side} (on {consulted} requests)"))
    return flags


def _flag(v: dict[str, Any], metric: str, value: float, band: tuple[float | None, float | None], n: int, message: str) -> dict[str, Any]:
    return {"task": v["task"], "specialist": v["specialist"], "metric": metric, "value": value,
            "band": list(band), "n": n, "message": f"{v['specialist']}: {message}"}


def drift_bands(constellation: Any) -> dict[str, Band]:
    """The bands of a constellation: per task where set, ``DEFAULT_BAND_KEY`` for the rest."""
    def band(cfg: Any) -> Band:
        return Band(cfg.accuracy_min, cfg.escalation_rate_min, cfg.escalation_rate_max, cfg.min_feedback, cfg.min_requests,
                    cfg.below_target)

    bands = {DEFAULT_BAND_KEY: band(constellation.observability.drift)}
    for name, task in constellation.tasks.items():
        if task.drift is not None:
            bands[name] = band(task.drift)
    return bands
