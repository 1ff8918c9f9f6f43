"""Learned routers in the gateway: per prompt, the strong or the weak model, and why.

A task's ``router:`` block (gateway config) names a registered router and two remote models; the
router scores the text the task reads, and the prompt goes to ``strong`` when the score clears the
threshold. The threshold is given, or derived from a target share of strong calls (read off the
router's held-out score distribution, stored at training), or from a cost budget per request:
with expected costs c_s and c_w per request, spending at most B per request on average allows a
strong share of (B − c_w) / (c_s − c_w), clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rightmodel.errors import ConfigError
from rightmodel.router.artifact import LearnedRouter


def share_for_budget(budget: float, strong_cost: float, weak_cost: float) -> float:
    """The largest strong-call share whose expected cost per request stays within ``budget``."""
    if strong_cost <= weak_cost:
        raise ConfigError(f"a budget needs the strong model dearer than the weak one (got {strong_cost} <= {weak_cost} per request)")
    return min(1.0, max(0.0, (budget - weak_cost) / (strong_cost - weak_cost)))


@dataclass
class RouterPolicy:
    """One task's learned router with its resolved threshold."""

    ref: str
    router: LearnedRouter
    strong: str
    weak: str
    threshold: float
    rule: str  # how the threshold was chosen, for the reason string

    def choose(self, text: str) -> tuple[str, str]:
        """(model, reason) for one prompt. A router that fails (a bug, a broken file) must not fail
        the request: the strong model answers, and the reason says why."""
        try:
            score = float(self.router.score([text])[0])
        except Exception as exc:  # noqa: BLE001
            import logging

            logging.getLogger("rightmodel.router").exception("router %s failed", self.ref)
            return self.strong, f"router {self.ref} failed ({type(exc).__name__}): {self.strong}"
        if score >= self.threshold:
            return self.strong, f"router {self.ref} score {score:.4f} >= {self.threshold:.4f} ({self.rule}): {self.strong}"
        return self.weak, f"router {self.ref} score {score:.4f} < {self.threshold:.4f} ({self.rule}): {self.weak}"


def policy_from_config(cfg: Any, registry: Any, threads: int | None = None) -> RouterPolicy:
    """Load the router a task's ``router:`` block names (verified) and fix its threshold."""
    from rightmodel.router.artifact import open_router

    version, router = open_router(registry, cfg.model, threads=threads)
    if cfg.threshold is not None:
        threshold, rule = float(cfg.threshold), "threshold set in config"
    elif cfg.strong_share is not None:
        threshold, rule = router.threshold_for_share(cfg.strong_share), f"target strong share {cfg.strong_share:.0%}"
    else:
        share = share_for_budget(cfg.budget_usd_per_request, cfg.strong_usd_per_request, cfg.weak_usd_per_request)
        threshold = router.threshold_for_share(share)
        rule = f"budget ${cfg.budget_usd_per_request:g}/request → strong share {share:.0%}"
    return RouterPolicy(version.ref, router, cfg.strong, cfg.weak, threshold, rule)


def load_policies(constellation: Any, registry: Any, threads: int | None = None) -> dict[str, RouterPolicy]:
    """Every task's learned router, loaded and verified at startup; a missing or corrupted one
    stops the gateway with the key path that names it."""
    from rightmodel.errors import RightmodelError

    policies: dict[str, RouterPolicy] = {}
    for task, cfg in constellation.tasks.items():
        if cfg.router is None:
            continue
        try:
            policies[task] = policy_from_config(cfg.router, registry, threads)
        except RightmodelError as exc:
            raise ConfigError(f"tasks.{task}.router: cannot load {cfg.router.model}: {exc}") from None
    return policies
