"""Everything one gateway process holds, built at startup and kept in `app.state.gateway`.

Nothing here is a module global: two apps in one process (tests do this) share nothing, and
everything shared between processes (registry, ledger) is reached by URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rightmodel.backends.base import ChatBackend, RemoteEndpoint
from rightmodel.backends.breaker import CircuitBreaker
from rightmodel.backends.specialist import SpecialistBackend
from rightmodel.constellation.config import AnthropicModelConfig, Constellation, RemoteModelConfig, SpecialistModelConfig
from rightmodel.constellation.costs import CostModel
from rightmodel.constellation.settings import GatewaySettings, ledger_url_of
from rightmodel.errors import ConfigError, RightmodelError
from rightmodel.gateway.cpu import CpuPool, in_own_thread
from rightmodel.gateway.fallback import RetryPolicy
from rightmodel.privacy.gate import PrivacyGate
from rightmodel.routing.decision import Router

log = logging.getLogger("rightmodel.gateway")


@dataclass
class GatewayState:
    constellation: Constellation
    settings: GatewaySettings
    router: Router
    costs: CostModel
    retry: RetryPolicy
    remotes: dict[str, ChatBackend]
    specialists: dict[str, SpecialistBackend]
    ledger: Any
    registry: Any
    http: Any
    guard: Any = None  # admission control (gateway/guard.py)
    embedder: Any = None
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    embedder_loading: Any = None  # the first load's task (get_embedder)
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)  # one per remote model (backends/breaker.py)
    privacy: Any = None  # sensitive-data detection and policies (rightmodel/privacy/gate.py)
    metrics: Any = None  # Prometheus metrics with their own registry (gateway/metrics.py), made in the app's lifespan
    capturer: Any = None  # distillation captures of the tasks that opted in (distill/capturer.py)
    shadow_of: dict[str, str] = field(default_factory=dict)  # task -> candidate model (specialist or generate) in shadow mode
    shadow_outcomes: Any = None  # writer of generative shadow verdicts (gateway/shadow_generative.py), if any task has one
    promoted: dict[str, str] = field(default_factory=dict)  # task -> version promoted from shadow by this gateway
    background: list[asyncio.Task] = field(default_factory=list)
    cpu: Any = None  # the bounded pool for CPU work: embeddings, classify batches (gateway/cpu.py)
    chat_deadline_s: float = 60.0  # defaults.deadline_s, or the one derived from the models (Constellation.chat_deadline_s)
    # (model name, exact version) -> a loaded specialist: in this process by default; a proxy to a
    # Ray Serve deployment under `serve --ray` (cluster/remote_specialist.py). Live versions use it too.
    open_specialist: Callable[[str, str], Any] | None = None

    def task_labels(self, task: str | None) -> list[str] | None:
        """The labels of the task's specialist (or, with none yet, of its shadow candidate)."""
        if task is None:
            return None
        for name in (self.router.specialist_of.get(task), self.shadow_of.get(task)):
            if name is not None and name in self.specialists:
                return self.specialists[name].labels
        return None

    def shadow_ref(self, name: str) -> str:
        """The version a shadow candidate model runs (`task@vN`): a specialist's, or a generate model's."""
        if name in self.specialists:
            return self.specialists[name].ref
        return getattr(self.remotes.get(name), "version", None) or name

    def is_local(self, model: str) -> bool:
        """May a local-only request be served by this model? Specialists, and remotes marked `local: true`."""
        cfg = self.constellation.models.get(model)
        return cfg is not None and (isinstance(cfg, SpecialistModelConfig) or bool(getattr(cfg, "local", False)))

    def fallback_chain(self, model: str) -> list[str]:
        cfg = self.constellation.remote_models()[model]
        return [model, *cfg.fallbacks]

    def upstream_id(self, model: str) -> str:
        cfg = self.constellation.remote_models()[model]
        return cfg.model or model

    async def get_embedder(self):
        """The embedder, exported and loaded on first use (off the event loop). One load, shared:
        a request that gives up waiting (its deadline) leaves it running for the next."""
        if self.embedder is None:
            if self.embedder_loading is None:
                self.embedder_loading = asyncio.ensure_future(asyncio.to_thread(load_embedder, self.settings))
                self.embedder_loading.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even if nobody waits
            try:
                self.embedder = await asyncio.shield(self.embedder_loading)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.embedder_loading = None  # the next request tries again
                raise
        return self.embedder

    async def aclose(self) -> None:
        # Blocking steps run in threads of their own: the default executor may be held by work
        # abandoned at its deadline, and nothing here may wait behind it (gateway/server.py).
        for job in self.background:
            job.cancel()
        if self.cpu is not None:
            self.cpu.close()
        if self.capturer is not None:
            await in_own_thread(self.capturer.close)
        if self.shadow_outcomes is not None:
            await in_own_thread(self.shadow_outcomes.close)
        if self.guard is not None:
            await self.guard.aclose()
        for backend in self.specialists.values():
            await backend.aclose()
        for backend in self.remotes.values():
            await backend.aclose()
        if self.http is not None:
            await self.http.aclose()
        if self.ledger is not None:
            await in_own_thread(self.ledger.close)
        if self.registry is not None:
            self.registry.close()


def check_novelty(constellation: Constellation, specialists: dict[str, Any]) -> None:
    """A task with `novelty` needs a classify specialist whose version carries a novelty index
    (trained by this release or later, its directory readable here): startup says so rather than
    serving without the gate the configuration asks for."""
    for name, task in constellation.tasks.items():
        if task.novelty is None:
            continue
        backend = specialists.get(task.specialist or "")
        if backend is None:
            raise ConfigError(f"tasks.{name}.novelty: needs a classify specialist (tasks.{name}.specialist naming a "
                              "`kind: specialist` model)")
        if getattr(backend, "novelty", None) is None:
            raise ConfigError(f"tasks.{name}.novelty: {backend.ref} has no novelty index (a version trained before it "
                              "existed, or Ray Serve replicas on a machine whose registry this one cannot read): retrain it "
                              f"with `rightmodel train`, or drop tasks.{name}.novelty")


def check_generative_thresholds(constellation: Constellation, remotes: dict[str, ChatBackend]) -> None:
    """A task whose specialist is a generate model needs an acceptance threshold (the task's
    `threshold`, the model's, or its card's): without one nothing could tell an answer worth
    sending from one to escalate, so startup stops and says where to set it."""
    generators = constellation.generators()
    for name, task in constellation.tasks.items():
        if task.specialist in generators and task.threshold is None and getattr(remotes[task.specialist], "acceptance_threshold", None) is None:
            raise ConfigError(f"tasks.{name}.threshold: the generate model '{task.specialist}' has no acceptance threshold "
                              f"(no card.json beside its file): set tasks.{name}.threshold or models.{task.specialist}.threshold, "
                              "or train it with `rightmodel train --kind generate`, which calibrates one")
        if task.shadow in generators and getattr(remotes[task.shadow], "acceptance_threshold", None) is None:
            raise ConfigError(f"tasks.{name}.shadow: the generate model '{task.shadow}' has no acceptance threshold (no card.json "
                              f"beside its file), so shadow mode could not tell which answers it would have sent: set "
                              f"models.{task.shadow}.threshold, or shadow a version `rightmodel distill` or `train --kind generate` made")


def load_embedder(settings: GatewaySettings):
    from rightmodel.specialists.embedder import Embedder, ensure_embedder

    return Embedder(ensure_embedder(settings.home / "cache"), threads=settings.inference_threads)


def resolve_endpoint(name: str, cfg: RemoteModelConfig) -> RemoteEndpoint:
    import os

    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    if cfg.api_key_env and not key:
        log.warning("models.%s: $%s is not set; requests to %s will be sent without a key", name, cfg.api_key_env, name)
    return RemoteEndpoint(base_url=cfg.base_url, model=cfg.model or name, api_key=key, headers=dict(cfg.headers), timeout_s=cfg.timeout_s)


def build_remote(name: str, cfg: RemoteModelConfig, http, threads: int | None = None, registry=None) -> ChatBackend:
    from rightmodel.constellation.config import GenerateModelConfig

    if isinstance(cfg, GenerateModelConfig):  # a local generator (rightmodel/generative/): a file or a registered version
        from rightmodel.generative.serving import build_generator

        return build_generator(name, cfg, threads, registry)
    endpoint = resolve_endpoint(name, cfg)
    if isinstance(cfg, AnthropicModelConfig):
        from rightmodel.backends.anthropic import AnthropicBackend

        return AnthropicBackend(name, endpoint, http)
    from rightmodel.backends.openai_http import OpenAICompatibleBackend

    return OpenAICompatibleBackend(name, endpoint, http)


def local_opener(constellation: Constellation, settings: GatewaySettings, registry: Any) -> Callable[[str, str], SpecialistBackend]:
    """Specialists loaded in this process (ONNX Runtime, micro-batched): the default."""
    d = constellation.defaults

    def open_local(name: str, ref: str) -> SpecialistBackend:
        return SpecialistBackend(name, registry, ref, max_batch=d.batch_max_size, max_wait_ms=d.batch_max_wait_ms, threads=settings.inference_threads)

    return open_local


def build_state(constellation: Constellation, settings: GatewaySettings, open_specialist: Callable[[str, str], Any] | None = None) -> GatewayState:
    """Open the registry, load every specialist (verified), start the ledger, make backends.

    Runs before the server accepts requests: a missing production version or a corrupted file
    stops startup with a message naming it, rather than failing requests later.
    """
    from rightmodel.backends.http_client import HttpClient
    from rightmodel.ledger import Ledger
    from rightmodel.registry import Registry

    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    # The NER pipeline takes seconds to load: in a thread, beside the specialists.
    privacy_pool = ThreadPoolExecutor(1, thread_name_prefix="privacy-load")
    endpoints = tuple(url for m in constellation.models.values() if isinstance(url := getattr(m, "base_url", None), str))
    privacy_future = privacy_pool.submit(PrivacyGate, constellation.privacy, endpoints)
    privacy_pool.shutdown(wait=False)
    registry = Registry(home, settings.registry_url)
    specialists: dict[str, SpecialistBackend] = {}
    try:
        opener = open_specialist or local_opener(constellation, settings, registry)
        for name, cfg in constellation.specialists().items():
            try:
                specialists[name] = opener(name, cfg.ref(name))
            except RightmodelError as exc:
                raise ConfigError(f"models.{name}: cannot load {cfg.ref(name)} from the registry at {home}: {exc}") from None
        embedder = None
        # Loaded before serving when a task needs it on its request path: example prompts to
        # recognise, or a novelty gate (its first request would otherwise wait for the load).
        wants_embedder = any(t.recognise.examples or t.novelty for t in constellation.tasks.values())
        if settings.load_embedder or (settings.load_embedder is None and wants_embedder):
            embedder = load_embedder(settings)
        from rightmodel.router.serving import load_policies

        learned = load_policies(constellation, registry, settings.inference_threads)
        router = Router(constellation, embed=embedder.embed if embedder else None, learned=learned)
        ledger_url = ledger_url_of(settings)
        try:
            privacy = privacy_future.result()
        except RuntimeError as exc:
            raise ConfigError(f"privacy: {exc}") from None
        stamp = {"worker": settings.worker} if settings.worker is not None else None
        ledger = Ledger(ledger_url, settings.journal_dir or home / "ledger-journal", stamp=stamp)
        ledger.start()
    except BaseException:
        registry.close()
        raise
    from rightmodel.gateway.guard import build_guard

    guard = build_guard(constellation, settings)
    http = HttpClient()
    remotes = {name: build_remote(name, cfg, http, settings.inference_threads, registry) for name, cfg in constellation.remote_models().items()}
    check_generative_thresholds(constellation, remotes)
    check_novelty(constellation, specialists)
    capturer = build_capturer(constellation, settings)
    shadow_outcomes = None
    if any(t.shadow in constellation.generators() for t in constellation.tasks.values()):
        from rightmodel.ledger.shadow_outcomes import ShadowOutcomes

        shadow_outcomes = ShadowOutcomes(ledger.engine)
    d = constellation.defaults
    return GatewayState(
        constellation=constellation,
        settings=settings,
        router=router,
        costs=CostModel(constellation),
        retry=RetryPolicy(d.retries, d.backoff_s, d.backoff_max_s),
        remotes=remotes,
        specialists=specialists,
        ledger=ledger,
        registry=registry,
        http=http,
        embedder=embedder,
        guard=guard,
        breakers={name: CircuitBreaker(name, d.breaker_failures, d.breaker_cooldown_s) for name in remotes},
        privacy=privacy,
        capturer=capturer,
        shadow_outcomes=shadow_outcomes,
        shadow_of={name: t.shadow for name, t in constellation.tasks.items() if t.shadow is not None},
        cpu=CpuPool(d.cpu_workers, d.cpu_per_tenant),
        chat_deadline_s=constellation.chat_deadline_s(),
        open_specialist=opener,
    )


def build_capturer(constellation: Constellation, settings: GatewaySettings):
    """The background writer of captures, if any task opted in (tasks.X.capture)."""
    policies = {name: t.capture for name, t in constellation.tasks.items() if t.capture is not None}
    if not policies:
        return None
    from rightmodel.distill.capturer import Capturer
    from rightmodel.distill.store import CaptureStore, resolve_captures_url

    capturer = Capturer(CaptureStore(resolve_captures_url(settings.home, constellation.storage.captures_url)), policies)
    capturer.start()
    return capturer


def preflight(constellation: Constellation, settings: GatewaySettings) -> None:
    """Fail before the server starts when a configured specialist is missing or corrupted."""
    from rightmodel.registry import Registry

    from rightmodel.auth.store import KeyStore, resolve_keys_url

    KeyStore(resolve_keys_url(settings.home, constellation.storage.keys_url)).close()  # a URL that cannot work: ConfigError
    with Registry(settings.home, settings.registry_url) as registry:
        for name, cfg in constellation.specialists().items():
            try:
                registry.open(cfg.ref(name))
            except RightmodelError as exc:
                raise ConfigError(f"models.{name}: cannot serve {cfg.ref(name)} from the registry at {settings.home}: {exc}") from None
        from rightmodel.router.serving import load_policies

        load_policies(constellation, registry)  # a missing or corrupted learned router: ConfigError naming tasks.X.router


def default_constellation(home: Path, registry_url: str | None = None) -> Constellation:
    """With no constellation file: every task with a production specialist, served by name."""
    from rightmodel.constellation.config import parse_constellation
    from rightmodel.registry import Registry

    with Registry(home, registry_url) as registry:
        from rightmodel.router.artifact import is_router_version

        # learned routers live in the same registry; they are not specialists to serve by name
        tasks = sorted({v.task for v in registry.list() if v.stage == "production" and not is_router_version(v.path)})
    models = {f"{t}-specialist": {"kind": "specialist", "task": t} for t in tasks}
    return parse_constellation(
        {"models": models, "tasks": {t: {"specialist": f"{t}-specialist"} for t in tasks}, "storage": {"home": str(home)}},
        "default constellation",
    )
