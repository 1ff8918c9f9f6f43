"""Live promotion: a running gateway follows `models promote`, `rollback` and new versions.

A specialist configured by stage (`task@production`, `task@candidate`: the default) names
whatever version holds that stage *now*. Every `settings.version_poll_s` (2 s) this process asks
the registry index which version each such model resolves to — one small SELECT per model — and
when it changed:

1. the new version is opened (checksums verified), loaded and run once, off the event loop, while
   the old one keeps answering;
2. the model's entry in `state.specialists` is replaced in one step on the event loop: requests
   routed from then on get the new version; a request already holding the old one finishes on it;
3. the old version is closed once nothing waits on it (its micro-batcher's `pending` is 0).

So no request fails during the switch, and every process (each worker of `serve --workers N`,
each machine on a shared registry) serves the new version within `version_poll_s` plus the load
time of promoting it. A version that fails to load is logged and not retried until the stage
names another one; the old version keeps serving meanwhile. Pinned versions (`version: v3`) never
change.

A `kind: generate` model that names a stage (`task:` without `path:` or `version:`) follows it
the same way: the new version's llama.cpp engines are loaded beside the old ones, the model's
entry in `state.remotes` is replaced, and the old engines are freed once no generation runs on
them or waits for them.

A candidate that took over its task from shadow mode (gateway/shadow.py) is pinned to the version
that earned it: a newer candidate registered later is not served in its place without earning it.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rightmodel.backends.specialist import SpecialistBackend
from rightmodel.errors import RightmodelError

log = logging.getLogger("rightmodel.gateway.versions")

DRAIN_MAX_S = 120.0  # an old version still waited on after this is closed anyway (a stuck request)
WARM_TEXT = "warm up"


def stage_refs(state: Any) -> dict[str, str]:
    """model name -> its stage reference, for the specialists and registered generators that follow a stage."""
    refs = {name: cfg.ref(name) for name, cfg in state.constellation.specialists().items() if cfg.version is None}
    refs.update({name: cfg.ref(name) for name, cfg in state.constellation.generators().items() if cfg.path is None and cfg.version is None})
    return refs


def pinned(state: Any) -> set[str]:
    """The models that took over a task from shadow mode (serving a task they were not configured
    for): they keep the version that earned it."""
    tasks = state.constellation.tasks
    return {model for task, model in state.router.specialist_of.items()
            if task in state.promoted and model is not None and model != tasks[task].specialist}


def load_generator(state: Any, name: str, exact_ref: str) -> Any:
    """A generate model's new version, its engines loaded (generative/serving.py checks the file and the card)."""
    from rightmodel.generative.serving import build_generator

    cfg = state.constellation.generators()[name]
    pinned_cfg = cfg.model_copy(update={"version": exact_ref.rpartition("@")[2]})
    return build_generator(name, pinned_cfg, state.settings.inference_threads, state.registry)


async def retire_generator(old: Any) -> None:
    """Free a replaced generator's engines once nothing runs on them or waits for them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_MAX_S
    while old.busy and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await old.aclose()


def resolve(registry: Any, refs: dict[str, str]) -> dict[str, str]:
    """model name -> the exact version (`task@vN`) its stage names now; models whose stage is
    empty (a candidate just promoted) are left out, so they keep what they serve."""
    now = {}
    for name, ref in refs.items():
        try:
            now[name] = registry.get(ref).ref
        except RightmodelError:
            continue
    return now


def load(state: Any, name: str, exact_ref: str) -> SpecialistBackend:
    """The new version, verified, loaded and run once (the first run of a session is the slow one)."""
    backend = state.open_specialist(name, exact_ref)
    backend.warm(WARM_TEXT)
    if any(t.specialist == name and t.novelty for t in state.constellation.tasks.values()):
        backend.novelty  # noqa: B018 - read the index here, off the event loop, not on the first gated request
    return backend


def switch(state: Any, name: str, new: SpecialistBackend) -> SpecialistBackend:
    """Make `new` the model's backend (one step on the event loop); returns the old one."""
    if state.metrics is not None:
        new.batcher.observer = state.metrics.batch_observer(name)
        state.metrics.models = state.metrics.models | {new.ref}
    old = state.specialists[name]
    state.specialists[name] = new
    return old


async def retire(old: SpecialistBackend) -> None:
    """Close a replaced version once no request waits on it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_MAX_S
    while old.batcher.pending and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await old.aclose()


async def watch_versions(state: Any) -> None:
    """The loop (an app background task): poll, load, switch, retire (see the module docstring)."""
    interval = state.settings.version_poll_s
    refs = stage_refs(state)
    if not refs or not interval:
        return
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1, thread_name_prefix="versions")  # never queued behind the default executor
    failed: dict[str, str] = {}
    retiring: set[asyncio.Task] = set()
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                now = await loop.run_in_executor(pool, resolve, state.registry, refs)
            except Exception as exc:  # registry down: keep serving what is loaded, ask again
                log.warning("live versions: cannot read the registry: %s: %s", type(exc).__name__, exc)
                continue
            keep = pinned(state)
            for name, exact in now.items():
                generator = name not in state.specialists
                current = state.remotes.get(name) if generator else state.specialists.get(name)
                served = getattr(current, "version" if generator else "ref", None)
                if current is None or served == exact or failed.get(name) == exact or name in keep:
                    continue
                try:
                    new = await loop.run_in_executor(pool, load_generator if generator else load, state, name, exact)
                except Exception as exc:
                    failed[name] = exact
                    log.error("live versions: cannot load %s for models.%s (still serving %s): %s", exact, name, served, exc)
                    continue
                failed.pop(name, None)
                if generator:
                    old, state.remotes[name] = current, new
                else:
                    old = switch(state, name, new)
                log.warning("live versions: models.%s now serves %s (was %s)", name, exact, served)
                job = asyncio.create_task(retire_generator(old) if generator else retire(old))
                retiring.add(job)
                job.add_done_callback(retiring.discard)
    finally:
        pool.shutdown(wait=False)
