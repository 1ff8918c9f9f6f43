"""The gateway as a Ray Serve application: one ingress deployment, one deployment per specialist.

- **ingress** (`GatewayIngress`): the same FastAPI app as `rightmodel serve` (gateway/app.py),
  one per replica, each with its own ledger journal slot (gateway/slots.py) and the shared limits
  store (cluster/limits_store.py). Its specialists are `RemoteSpecialist` proxies
  (cluster/remote_specialist.py) calling the specialist deployments through DeploymentHandles.
- **specialist-<model>** (`SpecialistReplica`): one model of the constellation, any of its
  versions by exact reference, loaded on first use and micro-batched as in a lone gateway.
  Replicas, `max_ongoing_requests` and autoscaling come from `models.<name>.serving`; the ingress
  from `ray.ingress`.

Run it with `rightmodel serve --ray` (gateway/ray_launch.py), or with Ray's own tools from a
config file whose `import_path` is `rightmodel.gateway.ray_serve:app_builder` (docs/scale.md).

Ray 2.60 binds each replica's inter-deployment gRPC server to every interface (`[::]:0`); this
module rebinds it to the node's own address (127.0.0.1 on a loopback cluster) when a replica
imports it, so a cluster started on loopback listens on loopback only (tested).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import uuid
from collections import OrderedDict
from typing import Any

from ray import serve

from rightmodel.cluster.remote_specialist import RemoteSpecialist, VersionInfo
from rightmodel.gateway.launch import ServeOptions

log = logging.getLogger("rightmodel.cluster")

APP_NAME = "rightmodel"
INGRESS = "ingress"
KEEP_VERSIONS = 3  # loaded per specialist replica: the stage's, the one before it, one more being tried


def deployment_name(model: str) -> str:
    return f"specialist-{model}"


def _bind_replica_grpc_to_node_ip() -> None:
    """Make replicas listen on the node's address instead of every interface (see the docstring)."""
    try:
        from ray.serve._private import replica
    except ImportError:  # another Ray layout: nothing to adjust
        return
    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "_rightmodel", False):
        return

    def add_port(server: Any, address: str) -> int:
        if address.startswith("[::]:"):
            import ray

            address = f"{ray.util.get_node_ip_address()}:{address.rsplit(':', 1)[1]}"
        return original(server, address)

    add_port._rightmodel = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = add_port


_bind_replica_grpc_to_node_ip()


class SpecialistReplica:
    """One specialist model's replica: versions by exact reference, the stage's kept warm."""

    def __init__(self, options_json: str, model: str) -> None:
        from rightmodel.gateway.state import local_opener
        from rightmodel.registry import Registry

        options = ServeOptions.from_json(options_json)
        constellation, settings = _constellation_and_settings(options)
        cfg = constellation.specialists()[model]
        cpus = cfg.serving.cpus if cfg.serving.cpus is not None else 1.0
        settings.inference_threads = options.threads or max(1, int(cpus))
        self.model = model
        self.stage_ref = cfg.ref(model)
        self.poll_s = settings.version_poll_s
        self.registry = Registry(settings.home, settings.registry_url)
        self._open = local_opener(constellation, settings, self.registry)
        self._versions: OrderedDict[str, Any] = OrderedDict()  # exact ref -> loaded version, least recently used first
        self._loading: dict[str, asyncio.Future] = {}  # one load per version, however many requests ask
        self._watch: asyncio.Task | None = None
        first = self._load(self.registry.get(self.stage_ref).ref)  # ready when the replica is: the stage's version loaded
        self._versions[first.ref] = first

    def _load(self, exact_ref: str) -> Any:
        """Verify, load and run a version once (blocking: off the event loop)."""
        backend = self._open(self.model, exact_ref)
        backend.warm("warm up")
        return backend

    async def _backend(self, exact_ref: str) -> Any:
        if self._watch is None:
            self._watch = asyncio.create_task(self._follow_stage())
        backend = self._versions.get(exact_ref)
        if backend is not None:
            self._versions.move_to_end(exact_ref)
            return backend
        loading = self._loading.get(exact_ref)
        if loading is None:
            loading = self._loading[exact_ref] = asyncio.ensure_future(asyncio.to_thread(self._load, exact_ref))
            try:
                backend = await loading
            finally:
                del self._loading[exact_ref]
            self._versions[exact_ref] = backend
            await self._evict()
            return backend
        return await asyncio.shield(loading)

    async def _evict(self) -> None:
        """Close the least recently used versions beyond KEEP_VERSIONS once nothing waits on them."""
        for ref in list(self._versions)[: max(0, len(self._versions) - KEEP_VERSIONS)]:
            old = self._versions[ref]
            if not old.batcher.pending:
                del self._versions[ref]
                await old.aclose()

    async def _follow_stage(self) -> None:
        """Load the version the stage names as soon as it changes, so that when the ingress
        replicas switch to it (they poll the registry too) it is already warm here."""
        while self.poll_s:
            await asyncio.sleep(self.poll_s)
            try:
                exact = await asyncio.to_thread(lambda: self.registry.get(self.stage_ref).ref)
                if exact not in self._versions:
                    await self._backend(exact)
            except Exception as exc:  # registry down or a bad version: the ingress decides what is served
                log.warning("specialist %s: cannot preload %s: %s", self.model, self.stage_ref, exc)

    async def describe(self, ref: str) -> VersionInfo:
        """Resolve `ref` (a stage or an exact version), load it here, and say what it is."""
        exact = await asyncio.to_thread(lambda: self.registry.get(ref).ref)
        return VersionInfo.of(await self._backend(exact))

    async def classify(self, exact_ref: str, text: str, top_k: int = 3) -> Any:
        backend = await self._backend(exact_ref)
        return await backend.classify(text, top_k)

    async def classify_many(self, exact_ref: str, texts: list[str], top_k: int = 3) -> list[Any]:
        backend = await self._backend(exact_ref)
        return await asyncio.to_thread(backend.classify_many, texts, top_k)


@serve.ingress()
class GatewayIngress:
    """The gateway app on a Ray Serve replica, its specialists reached through handles."""

    def __init__(self, options_json: str, specialists: dict[str, Any]) -> None:
        self.options = ServeOptions.from_json(options_json)
        self.handles = specialists

    def __serve_build_asgi_app__(self) -> Any:
        from rightmodel.gateway.slots import claim_slot, ship_orphans
        from rightmodel.constellation.settings import ledger_url_of
        from rightmodel.gateway.app import create_app
        from rightmodel.gateway.launch import become_worker, journal_root, prepare

        constellation, settings = prepare(self.options)
        root = journal_root(settings)
        slot = claim_slot(root)
        self._slot = slot  # held (its flock) for the life of this replica
        instance = f"ray:{os.uname().nodename}:{os.getpid()}:slot{slot.index}:{uuid.uuid4().hex[:8]}"
        if slot.previous_instance and settings.limits_url:
            _expire(settings.limits_url, slot.previous_instance)
        slot.record(instance)
        become_worker(settings, slot.index, instance)
        settings.inference_threads = self.options.threads or 1  # specialists run elsewhere: the embedder and privacy models here
        ship_orphans(root, ledger_url_of(settings), mine=slot.index)
        handles = self.handles

        def open_remote(name: str, ref: str) -> RemoteSpecialist:
            return RemoteSpecialist.open(name, handles[name], ref)

        return create_app(constellation, settings, open_specialist=open_remote)


def _expire(limits_url: str, instance: str) -> None:
    """The previous holder of this slot died: its reservations are charged in full now."""
    from rightmodel.cluster.limits_store import SharedLimits

    try:
        store = SharedLimits(limits_url, instance=f"ray-expirer:{os.getpid()}", hold_s=60.0)
        try:
            n = store.expire_instance(instance)
        finally:
            store.close()
        if n:
            log.warning("%d reservation(s) of the replica that held this slot before (%s) are charged in full", n, instance)
    except Exception as exc:  # they expire on their own later
        log.warning("cannot expire the reservations of %s now: %s", instance, exc)


def _constellation_and_settings(options: ServeOptions) -> tuple[Any, Any]:
    """The constellation and settings without a gateway's preflight (a specialist replica)."""
    from pathlib import Path

    from rightmodel.constellation.config import load_constellation
    from rightmodel.constellation.settings import GatewaySettings
    from rightmodel.gateway.state import default_constellation

    home = Path(options.home) if options.home else None
    if options.config is not None:
        constellation = load_constellation(Path(options.config))
    else:
        constellation = default_constellation(home or Path(".rightmodel"), options.db_url)
    settings = GatewaySettings.from_constellation(constellation, home=home, registry_url=options.db_url, version_poll_s=options.version_poll_s)
    return constellation, settings


def deployment_options(serving: Any, default_cpus: float, drain_s: float) -> dict[str, Any]:
    """Ray Serve options of one deployment from its `ReplicasConfig`. On shutdown a replica waits
    for its requests in flight as a lone gateway does (`defaults.drain_s`), checked every 0.2 s
    rather than Ray's default 2 s, so stopping takes drain_s plus Ray's own teardown."""
    cpus = serving.cpus if serving.cpus is not None else default_cpus
    opts: dict[str, Any] = {"max_ongoing_requests": serving.max_ongoing_requests, "ray_actor_options": {"num_cpus": cpus},
                            "graceful_shutdown_timeout_s": drain_s, "graceful_shutdown_wait_loop_s": 0.2}
    if serving.autoscaling is not None:
        a = serving.autoscaling
        opts["autoscaling_config"] = {"min_replicas": a.min_replicas, "max_replicas": a.max_replicas, "target_ongoing_requests": a.target_ongoing_requests}
    else:
        opts["num_replicas"] = serving.replicas
    return opts


def build_app(options: ServeOptions, constellation: Any) -> Any:
    """The application: the ingress bound to one deployment per specialist model."""
    payload = dataclasses.replace(options, ray=True).to_json()
    specialist = serve.deployment(SpecialistReplica)
    ingress = serve.deployment(GatewayIngress)
    drain_s = constellation.defaults.drain_s
    handles = {
        name: specialist.options(name=deployment_name(name), **deployment_options(cfg.serving, 1.0, drain_s)).bind(payload, name)
        for name, cfg in constellation.specialists().items()
    }
    return ingress.options(name=INGRESS, **deployment_options(constellation.ray.ingress, 0.0, drain_s)).bind(payload, handles)


def app_builder(args: dict[str, Any]) -> Any:
    """For Ray's own tools: `serve run` / `serve deploy` a config whose application has
    `import_path: rightmodel.gateway.ray_serve:app_builder` and `args:` the options of
    `rightmodel serve` (config, home, db_url, ledger_url, keys_url, limits_url, journal_dir, threads)."""
    options = ServeOptions(**{k: v for k, v in (args or {}).items()}, ray=True)
    constellation, _ = _constellation_and_settings(options)
    return build_app(options, constellation)
