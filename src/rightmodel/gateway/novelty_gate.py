"""The opt-in novelty gate of a classify task (`tasks.<name>.novelty`): a request the specialist is
confident about still escalates when it is less like the specialist's training texts than all but
that share of its calibration texts (rightmodel/specialists/novelty.py says why and how).

It costs one embedding of the request with the gateway's embedder (the bundled base encoder) and a
comparison with every training text, in the CPU pool; it runs only for requests the confidence
threshold already accepts, so an unsure request pays nothing for it.
"""

from __future__ import annotations

import time
from typing import Any

from rightmodel.gateway.deadlines import Scope
from rightmodel.gateway.state import GatewayState
from rightmodel.gateway.ticket import Ticket


async def novel(state: GatewayState, t: Ticket, backend: Any, task_cfg: Any, text: str, scope: Scope) -> str | None:
    """Why the request counts as novel, or None (not novel, or no gate on this task). The
    similarity and the gate go into the ledger row (extra.novelty) either way."""
    share = getattr(task_cfg, "novelty", None)
    if not share:
        return None
    index = getattr(backend, "novelty", None)  # read before serving (state.check_novelty, live_versions.load)
    if index is None:  # a version promoted live without an index (startup refuses one; see state.check_novelty)
        t.extra["novelty"] = {"share": share, "skipped": f"{backend.ref} has no novelty index"}
        return None
    embedder = await state.get_embedder()
    if embedder.base_model != index.base_model:
        t.extra["novelty"] = {"share": share, "skipped": f"index built with {index.base_model}, gateway embeds with {embedder.base_model}"}
        return None
    started = time.perf_counter()
    similarity = float(await state.cpu.run(lambda: index.nearest(embedder.embed([text]))[0], tenant=t.tenant, deadline=scope.deadline,
                                           cancel=scope.cancelled))
    gate = index.gate(share)
    t.extra["novelty"] = {"share": share, "similarity": round(similarity, 4), "gate": round(gate, 4),
                          "ms": round((time.perf_counter() - started) * 1000.0, 3)}
    if similarity >= gate:
        return None
    return f"unlike its training texts (nearest similarity {similarity:.3f} < novelty gate {gate:.3f} at novelty {share})"
