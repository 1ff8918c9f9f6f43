"""Learned routers: from outcome data (per prompt, how a strong and a weak model did) to a score
that says which prompts are worth the strong model, evaluated with RouteLLM's PGR/APGR/CPT.

Public API: outcome loading, the router kinds, metrics, and loading a trained router. Heavy
imports (scikit-learn, ONNX Runtime, matplotlib) happen inside the functions that need them.
"""

from rightmodel.router.artifact import LearnedRouter, load_router, open_router
from rightmodel.router.kinds import KINDS, Features, make_router
from rightmodel.router.metrics import RoutingCurve, binned_curve, score_report, sweep_curve
from rightmodel.router.outcomes import OutcomeSet, read_outcomes

__all__ = [
    "KINDS", "Features", "LearnedRouter", "OutcomeSet", "RoutingCurve", "binned_curve", "load_router",
    "make_router", "open_router", "read_outcomes", "score_report", "sweep_curve",
]
