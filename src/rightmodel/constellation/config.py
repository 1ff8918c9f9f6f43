"""The constellation file: which models exist, which tasks they serve, and how requests route.

Validated with pydantic (unknown keys rejected), then cross-checked (every reference names a
model of the right kind). Every problem is reported with the key path that holds it, e.g.
``models.gpt-4o.price.input_per_mtok: Input should be a valid number``, so a user can fix a
file without reading our source. Secrets never live in the file: a remote model names the
environment variable that holds its key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rightmodel.constellation.prices import LIST_PRICES, PriceConfig, list_price
from rightmodel.errors import ConfigError
from rightmodel.privacy.config import Policy, PrivacyConfig
from rightmodel.sqlite_engine import safe_url

NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
RESERVED_MODEL_NAMES = ("auto",)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemoteModelConfig(Strict):
    base_url: str
    model: str | None = None  # id sent upstream; default: the model's name in this file
    api_key_env: str | None = Field(None, pattern=ENV_NAME)
    headers: dict[str, str] = Field(default_factory=dict)
    price: PriceConfig | None = None  # default: the shipped list price of `model`, if known (prices.py)
    timeout_s: float = Field(60.0, gt=0)
    fallbacks: list[str] = Field(default_factory=list)  # tried in order when this model fails
    local: bool = False  # served inside your perimeter (e.g. vLLM on your own host): privacy policies treat it as local

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class OpenAIModelConfig(RemoteModelConfig):
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, another rightmodel)."""

    kind: Literal["openai"]


class AnthropicModelConfig(RemoteModelConfig):
    """Anthropic's Messages API."""

    kind: Literal["anthropic"]
    base_url: str = "https://api.anthropic.com"


class AutoscalingConfig(Strict):
    """Ray Serve autoscaling of one deployment (`serve --ray`): replicas follow the requests queued
    or running per replica."""

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(2, ge=1)
    target_ongoing_requests: float = Field(4.0, gt=0)  # per replica; above it Ray adds replicas

    @model_validator(mode="after")
    def _ordered(self) -> "AutoscalingConfig":
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be at least min_replicas ({self.min_replicas})")
        return self


class ReplicasConfig(Strict):
    """How one deployment runs under `rightmodel serve --ray` (ignored by a lone gateway and
    `--workers`, where every process serves every specialist in-process)."""

    replicas: int = Field(1, ge=1)  # fixed count, unless `autoscaling` is set
    max_ongoing_requests: int = Field(32, ge=1)  # per replica; Ray queues (then refuses) beyond it
    autoscaling: AutoscalingConfig | None = None
    cpus: float | None = Field(None, ge=0)  # Ray CPUs reserved per replica (default: 1 for a specialist, 0 for the ingress)


class SpecialistModelConfig(Strict):
    """A registered specialist: a task in the registry, pinned to a stage or a version."""

    kind: Literal["specialist"]
    task: str | None = None  # registry task name; default: the model's name in this file
    stage: Literal["production", "candidate"] = "production"
    version: str | None = None  # e.g. "v3"; overrides stage
    serving: ReplicasConfig = Field(default_factory=ReplicasConfig)  # its Ray Serve deployment (`serve --ray`)

    def ref(self, name: str) -> str:
        task = self.task or name
        return f"{task}@{self.version or self.stage}"


class GenerateModelConfig(Strict):
    """A local generator: a GGUF file served in-process by llama.cpp (rightmodel/generative/).

    It answers chat completions like a remote model does (clients name it; a task may escalate to
    it; it may fall back to remote models), but it is local: local-only requests may use it, and
    its cost is its measured compute time at defaults.local_cost_per_hour (plus `price`, if set)."""

    kind: Literal["generate"]
    path: str | None = None  # a .gguf file; or, without it, a registered version (task / stage / version below)
    task: str | None = None  # registry task name; default: the model's name in this file
    stage: Literal["production", "candidate"] = "production"
    version: str | None = None  # e.g. "v3"; overrides stage
    model: str | None = None  # the id answers carry; default: the model's name in this file
    concurrency: int = Field(1, ge=1, le=64)  # generations at once (one llama.cpp context each)
    queue: int = Field(16, ge=0)  # requests waiting for a free context; beyond: 429 (retryable)
    context_tokens: int = Field(2048, ge=64)  # prompt + answer
    # per generation; default: the gateway's inference threads (`--threads`, or the cores each
    # `--workers` process gets), else the cores divided among `concurrency` (prefill scales with them)
    threads: int | None = Field(None, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    fallbacks: list[str] = Field(default_factory=list)
    price: PriceConfig | None = None  # per-token price on top of compute time (default none)
    local: Literal[True] = True
    # As a task's specialist: the acceptance threshold its answers must clear (else the task
    # escalates). Default: `acceptance.threshold` of the card.json beside `path`, which
    # `rightmodel train --kind generate` calibrates on held-out pairs (rightmodel/generative/calibrate.py).
    threshold: float | None = Field(None, ge=0, le=1.000001)

    @model_validator(mode="after")
    def _one_source(self) -> "GenerateModelConfig":
        if self.path is not None and (self.task is not None or self.version is not None):
            raise ValueError("set path (a GGUF file) or task/version (a registered version), not both")
        return self

    def ref(self, name: str) -> str | None:
        """The registry reference this model serves (`task@stage` or `task@vN`), None when it serves a file."""
        if self.path is not None:
            return None
        return f"{self.task or name}@{self.version or self.stage}"


ModelConfig = Annotated[
    Union[OpenAIModelConfig, AnthropicModelConfig, SpecialistModelConfig, GenerateModelConfig], Field(discriminator="kind")
]


class RecogniseConfig(Strict):
    """How an `auto` request is recognised as this task."""

    system_prompts: list[str] = Field(default_factory=list)  # templates; {name} matches any text
    examples: list[str] = Field(default_factory=list)  # example prompts for embedding similarity
    similarity: float = Field(0.8, gt=0, le=1)


class DriftConfig(Strict):
    """The band a specialist's live numbers should stay in; `rightmodel report` and /dashboard
    flag a version outside it (report/drift.py). Unset bounds are not checked."""

    accuracy_min: float | None = Field(None, ge=0, le=1)  # of the answers it served, from feedback
    escalation_rate_min: float | None = Field(None, ge=0, le=1)
    escalation_rate_max: float | None = Field(None, ge=0, le=1)
    min_feedback: int = Field(30, ge=1)  # verdicts needed before accuracy is judged
    min_requests: int = Field(50, ge=1)  # consultations needed before the escalation rate is judged
    # Flag a version whose served answers are, with 95% confidence, less accurate than the target
    # its threshold was calibrated for (report/drift.py); on unless set to false.
    below_target: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> "DriftConfig":
        low, high = self.escalation_rate_min, self.escalation_rate_max
        if low is not None and high is not None and low > high:
            raise ValueError(f"escalation_rate_min ({low}) is above escalation_rate_max ({high})")
        return self


class TaskRouterConfig(Strict):
    """A learned router (`rightmodel router train`) picking, per prompt, the remote model a task's
    escalations and generative requests go to: `strong` when its score clears the threshold, else
    `weak` (rightmodel/router/serving.py). The threshold: `threshold`, or the one for a target
    `strong_share`, or the share a budget allows given the expected cost per request of each model."""

    model: str  # the router in the registry: name, name@v3, name@production
    strong: str  # remote models
    weak: str
    threshold: float | None = None
    strong_share: float | None = Field(None, ge=0, le=1)
    budget_usd_per_request: float | None = Field(None, ge=0)
    strong_usd_per_request: float | None = Field(None, ge=0)
    weak_usd_per_request: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_rule(self) -> "TaskRouterConfig":
        rules = [r for r in ("threshold", "strong_share", "budget_usd_per_request") if getattr(self, r) is not None]
        if len(rules) != 1:
            raise ValueError("set exactly one of threshold, strong_share, budget_usd_per_request")
        if self.budget_usd_per_request is not None and (self.strong_usd_per_request is None or self.weak_usd_per_request is None):
            raise ValueError("budget_usd_per_request needs strong_usd_per_request and weak_usd_per_request")
        return self


class CaptureConfig(Strict):
    """Keep the (input, frontier answer) pairs of this task's escalated and remote requests for
    `rightmodel distill`, as the frontier saw them (redacted under the redact policy)."""

    retention_days: float | None = Field(30.0, gt=0)  # pairs older than this are deleted (null: kept)
    max_rows: int | None = Field(100_000, ge=1)  # newest kept per task (null: no cap)


class PromoteConfig(Strict):
    """When a shadow candidate takes over (gateway/shadow.py): agreement with the answers served,
    on the requests it would have answered (confidence >= its calibrated threshold)."""

    auto: bool = False  # promote in the registry and serve it at once; else: report it, promote by hand
    agreement: float = Field(0.98, gt=0, le=1)
    min_requests: int = Field(200, ge=1)
    check_every_s: float = Field(30.0, gt=0)


class TaskConfig(Strict):
    specialist: str | None = None  # a `kind: specialist` or `kind: generate` model; none yet: the task's requests go to escalate_to
    escalate_to: str | None = None  # a remote model; default: defaults.generalist
    threshold: float | None = Field(None, ge=0, le=1.000001)  # override of the calibrated threshold
    answer: Literal["label", "json"] = "label"
    recognise: RecogniseConfig = Field(default_factory=RecogniseConfig)
    input: Literal["last_user", "all_user"] = "last_user"  # which text the specialist reads
    privacy: Policy | None = None  # local-only, redact or allow; default: privacy.policy
    privacy_strict: bool | None = None  # local-only: uncertain names count as sensitive too; default: privacy.strict
    drift: DriftConfig | None = None  # default: observability.drift
    capture: CaptureConfig | None = None  # opt-in: keep frontier answers for distillation
    # What the task's answers are: `classify` (one of its labels) or `generate` (free text or JSON a
    # small language model writes). Default: `generate` when its specialist or shadow is a
    # `kind: generate` model, else `classify`. `rightmodel distill` reads it to choose the recipe.
    kind: Literal["classify", "generate"] | None = None
    # When a generated answer counts as the same as another (`exact`, or `chrf>=TAU`): the bar
    # `rightmodel distill` calibrates a generative candidate's threshold against (default: exact).
    quality: str | None = None
    shadow: str | None = None  # a candidate model (e.g. stage: candidate) run beside production without answering
    promote: PromoteConfig = Field(default_factory=PromoteConfig)  # when the shadow takes over
    router: TaskRouterConfig | None = None  # learned router choosing the escalation target per prompt
    # What a request the specialist is unsure of (confidence below the threshold) gets:
    # `escalate`: the escalation target answers it; with none, an empty 200 answer with route
    #   `escalation_unavailable` and the guess in the `rightmodel` field (the default, as before);
    # `guess`: the specialist's label, marked `unsure` (rightmodel field, x-rightmodel-unsure header);
    # `error`: 503 `specialist_unsure`, the guess in the error body's `rightmodel` field.
    # `guess` and `error` never send an unsure request to a remote model (requests only a
    # generative model can answer, e.g. with `tools`, still go to escalate_to).
    on_unsure: Literal["escalate", "guess", "error"] = "escalate"
    # Opt-in, classify tasks: a request the specialist is confident about is still treated as unsure
    # (escalated, or on_unsure) when it is less like the specialist's training texts than all but this
    # share of its calibration texts, e.g. 0.05 (rightmodel/specialists/novelty.py). It catches
    # requests of intents the specialist was never trained on, at the cost of about this share of
    # ordinary ones; the card's `novelty` section shows both on the evaluation split.
    novelty: float | None = Field(None, gt=0, lt=0.5)


class DefaultsConfig(Strict):
    generalist: str | None = None  # remote model for requests that match no task
    frontier: str | None = None  # what the counterfactual is priced at: a remote model, or a model of the price table
    retries: int = Field(2, ge=0, le=10)  # per backend, on timeouts / 429 / 5xx
    backoff_s: float = Field(0.2, ge=0)
    backoff_max_s: float = Field(5.0, ge=0)
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    drain_s: float = Field(30.0, ge=0)  # on SIGTERM/SIGINT: time given to in-flight requests (streams too)
    local_cost_per_hour: float = Field(0.10, ge=0)  # hardware cost a local model's compute time is priced at
    local_fixed_cost_per_month: float = Field(0.0, ge=0)  # what the hardware costs whatever the traffic (reports add it pro rata)
    # Micro-batching of concurrent specialist requests. Small batches by default: on 2 CPU cores
    # padding makes big batches of mixed-length texts slower per text (bench/results/gateway.md).
    batch_max_size: int = Field(4, ge=1)
    batch_max_wait_ms: float = Field(0.0, ge=0)  # > 0 waits for company: more throughput, more latency
    # Circuit breakers (backends/breaker.py): after this many consecutive failed requests to a
    # remote model its circuit opens and requests skip it for the cooldown, then one probe goes
    # through. 0: never open.
    breaker_failures: int = Field(5, ge=0)
    breaker_cooldown_s: float = Field(30.0, gt=0)
    # A stream with no content by then fails over like an error (default: the model's timeout_s).
    first_token_timeout_s: float | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, ge=1)  # cap on a request's max_tokens / max_completion_tokens (400 above it)
    # Deadlines (504 when passed; the work is cancelled or abandoned, never left to run on).
    # Chat: from arrival to its answer (or a stream's first byte). Unset: one attempt at every model
    # of the longest fallback chain (the sum of their timeout_s), 60 s with no remote model.
    deadline_s: float | None = Field(None, gt=0)
    batch_deadline_s: float = Field(30.0, gt=0)  # /v1/embeddings and /v1/classify
    admin_deadline_s: float = Field(15.0, gt=0)  # /v1/feedback, /admin/*, /dashboard/data
    # Input bounds (400 naming the field). JSON nesting depth is fixed: rightmodel.bounds.MAX_JSON_DEPTH.
    max_messages: int = Field(2048, ge=1)  # messages per chat request
    max_batch_inputs: int = Field(2048, ge=1)  # texts per /v1/embeddings or /v1/classify request
    max_input_chars: int = Field(32768, ge=1)  # characters per text of those endpoints (the encoders read 256-512 tokens)
    # CPU work (embeddings, classify batches) runs in a bounded pool of threads, in chunks, each
    # chunk checking the request's deadline; one tenant (an API key's tenant; all callers of an
    # open gateway are one) holds at most cpu_per_tenant of them at once (gateway/cpu.py).
    cpu_workers: int | None = Field(None, ge=1)  # default: cores + 1
    cpu_per_tenant: int | None = Field(None, ge=1)  # default: cpu_workers - 1 (at least 1)
    # HTTP connections (the server itself, before any route runs).
    max_header_bytes: int = Field(32768, ge=1024)  # request line + headers: 431 above it, refused while arriving
    idle_timeout_s: float = Field(5.0, gt=0)  # a connection with no request in progress is closed after this
    header_timeout_s: float = Field(10.0, gt=0)  # from a request's first byte to the end of its headers: 408
    body_timeout_s: float = Field(10.0, gt=0)  # a body must arrive within this, plus 1 s per body_min_rate bytes: 408
    body_min_rate: int = Field(1024, ge=1)  # bytes per second a body must keep up after body_timeout_s


class StorageConfig(Strict):
    home: str = ".rightmodel"  # registry directory
    registry_url: str | None = None  # default: SQLite in home
    ledger_url: str | None = None  # default: SQLite in home
    journal_dir: str | None = None  # default: home/ledger-journal
    keys_url: str | None = None  # API key store; default: $RIGHTMODEL_KEYS_URL, else SQLite home/keys.db
    captures_url: str | None = None  # distillation captures; default: $RIGHTMODEL_CAPTURES_URL, else SQLite home/captures.db
    limits_url: str | None = None  # shared rate limits and budgets of several processes; default with `serve --workers N`: SQLite home/limits.db


class AuthConfig(Strict):
    """API keys (`rightmodel keys`). `auto`: open while the key store has never held a key (a
    warning at startup), keys required from the first one on; `required`: always."""

    mode: Literal["auto", "required"] = "auto"
    refresh_s: float = Field(2.0, gt=0)  # how often a running gateway re-reads the key store (revocations)


class LimitsConfig(Strict):
    """What admission assumes before a request has run (corrected by its actual usage at the end)."""

    completion_tokens: int = Field(1024, ge=1)  # reserved (tpm, budget) when a request names no max_tokens
    local_seconds: float = Field(0.05, ge=0)  # compute reserved per text for a local model


class ObservabilityConfig(Strict):
    """Who may read /metrics and the /dashboard data, and the default drift band.

    `open`: anyone who reaches the port; `admin`: an admin API key (`Authorization: Bearer`),
    once keys exist (an open gateway stays open). The dashboard's page itself holds no data."""

    metrics: Literal["open", "admin"] = "open"  # Prometheus scrapers send the key with `authorization`
    dashboard: Literal["open", "admin"] = "admin"
    drift: DriftConfig = Field(default_factory=DriftConfig)


class EmbeddingsConfig(Strict):
    """/v1/embeddings. The bundled encoder answers to its own names (all-MiniLM-L6-v2) and to
    these aliases, e.g. the name a client library sends by default; any other model name is a
    404, so a client that asked for another model never gets this one's vectors under that name."""

    aliases: list[str] = Field(default_factory=list)


class RayConfig(Strict):
    """`rightmodel serve --ray`: the ingress deployment (the gateway app) and the Ray cluster."""

    ingress: ReplicasConfig = Field(default_factory=ReplicasConfig)
    address: str | None = None  # an existing cluster (host:port); default: start one on loopback for this gateway


class Constellation(Strict):
    version: Literal[1] = 1
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    tasks: dict[str, TaskConfig] = Field(default_factory=dict)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    ray: RayConfig = Field(default_factory=RayConfig)

    def remote_models(self) -> dict[str, OpenAIModelConfig | AnthropicModelConfig | GenerateModelConfig]:
        """Every model that answers chat completions itself: remote APIs and local generators."""
        return {n: m for n, m in self.models.items() if not isinstance(m, SpecialistModelConfig)}

    def specialists(self) -> dict[str, SpecialistModelConfig]:
        return {n: m for n, m in self.models.items() if isinstance(m, SpecialistModelConfig)}

    def generators(self) -> dict[str, GenerateModelConfig]:
        return {n: m for n, m in self.models.items() if isinstance(m, GenerateModelConfig)}

    def chat_deadline_s(self) -> float:
        """The chat deadline in force: `defaults.deadline_s`, else one attempt at every model of
        the longest fallback chain (the sum of their `timeout_s`), else 60 s. Retries then fit
        only when upstreams fail fast, which is what a client waiting on a hung one wants."""
        if self.defaults.deadline_s is not None:
            return self.defaults.deadline_s
        remotes = self.remote_models()
        chains = (sum(remotes[m].timeout_s for m in (name, *cfg.fallbacks) if m in remotes) for name, cfg in remotes.items())
        return max(chains, default=60.0)

    def to_public_dict(self) -> dict[str, Any]:
        """The file as validated, defaults filled in; safe to print: it holds env var names, not
        keys, and passwords inside database URLs are masked."""
        data = self.model_dump(mode="json", exclude_none=True)
        storage = data.get("storage", {})
        for key, value in storage.items():
            if key.endswith("_url") and isinstance(value, str):
                storage[key] = safe_url(value)
        return data


def _path(loc: tuple) -> str:
    parts = []
    for item in loc:
        # pydantic adds the discriminator tag ("openai", ...) as a location step; users never wrote it
        if parts and parts[0] == "models" and len(parts) == 2 and item in ("openai", "anthropic", "specialist", "generate"):
            continue
        parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _cross_check(c: Constellation) -> list[str]:
    """References between sections: names must exist and be of the right kind."""
    problems: list[str] = []
    remotes, specialists = c.remote_models(), c.specialists()
    for name in c.models:
        if not re.match(NAME, name) or name in RESERVED_MODEL_NAMES:
            problems.append(f"models.{name}: invalid model name (letters, digits, . _ : / -; not 'auto')")
        if name in c.tasks:
            problems.append(f"models.{name}: a model and a task cannot share a name")
    for name, model in remotes.items():
        for i, fallback in enumerate(model.fallbacks):
            if fallback not in remotes:
                problems.append(f"models.{name}.fallbacks.{i}: '{fallback}' is not a remote model in models")
            elif fallback == name:
                problems.append(f"models.{name}.fallbacks.{i}: a model cannot fall back to itself")
    for name, task in c.tasks.items():
        if not re.match(NAME, name) or name in RESERVED_MODEL_NAMES:
            problems.append(f"tasks.{name}: invalid task name")
        generative = task.specialist in c.generators()
        if task.specialist is not None and task.specialist not in specialists and not generative:
            problems.append(f"tasks.{name}.specialist: '{task.specialist}' is not a specialist or generate model in models")
        shadow_generates = task.shadow in c.generators()
        if generative and task.shadow is not None and not shadow_generates:
            problems.append(f"tasks.{name}.shadow: '{task.shadow}' is a classifier and the task's specialist '{task.specialist}' is a "
                            "generate model: a classifier's labels cannot be compared with written answers (shadow a generate model)")
        if shadow_generates and task.promote.auto and c.generators()[task.shadow].path is not None:
            problems.append(f"tasks.{name}.promote.auto: the shadow '{task.shadow}' is served from a file (path), not a registered "
                            "version, so there is nothing to promote: shadow a registered version (task: / stage: candidate)")
        if task.kind == "classify" and (generative or shadow_generates):
            problems.append(f"tasks.{name}.kind: classify, but its specialist or shadow is a generate model")
        if task.quality is not None and not quality_bar_ok(task.quality):
            # the same grammar as generative/acceptance.py QualityBar.parse (not imported: generative reads this module)
            problems.append(f"tasks.{name}.quality: {task.quality!r}: use 'exact' or 'chrf>=TAU' with TAU in (0, 1], e.g. chrf>=0.6")
        if generative and task.escalate_to == task.specialist:
            problems.append(f"tasks.{name}.escalate_to: a generative specialist cannot escalate to itself")
        if task.specialist is None and task.shadow is None and task.escalate_to is None and task.router is None and c.defaults.generalist is None:
            problems.append(f"tasks.{name}: no specialist and nowhere to send its requests (set specialist, escalate_to or defaults.generalist)")
        if task.shadow is not None and task.shadow not in specialists and not shadow_generates:
            problems.append(f"tasks.{name}.shadow: '{task.shadow}' is not a specialist or generate model in models")
        elif task.shadow is not None and task.shadow == task.specialist:
            problems.append(f"tasks.{name}.shadow: the shadow must differ from the task's specialist")
        if task.escalate_to is not None and task.escalate_to not in remotes:
            problems.append(f"tasks.{name}.escalate_to: '{task.escalate_to}' is not a remote model in models")
        if task.router is not None:
            for side in ("strong", "weak"):
                if getattr(task.router, side) not in remotes:
                    problems.append(f"tasks.{name}.router.{side}: '{getattr(task.router, side)}' is not a remote model in models")
            if task.escalate_to is not None:
                problems.append(f"tasks.{name}: set escalate_to or router, not both (the router picks the escalation target)")
        for i, template in enumerate(task.recognise.system_prompts):
            try:
                compile_template(template)
            except ValueError as exc:
                problems.append(f"tasks.{name}.recognise.system_prompts.{i}: {exc}")
    for i, alias in enumerate(c.embeddings.aliases):
        if not re.match(NAME, alias) or alias in RESERVED_MODEL_NAMES:
            problems.append(f"embeddings.aliases.{i}: invalid model name '{alias}' (letters, digits, . _ : / -; not 'auto')")
        elif alias in c.models or alias in c.tasks:
            problems.append(f"embeddings.aliases.{i}: '{alias}' is already a model or task name")
    if c.defaults.generalist is not None and c.defaults.generalist not in remotes:
        problems.append(f"defaults.generalist: '{c.defaults.generalist}' is not a remote model in models")
    frontier = c.defaults.frontier
    if frontier is not None and frontier not in remotes and list_price(frontier) is None:
        problems.append(
            f"defaults.frontier: '{frontier}' is neither a remote model in models nor a model of the price table ({', '.join(LIST_PRICES)})"
        )
    return problems


def quality_bar_ok(text: str) -> bool:
    """`exact` or `chrf>=TAU`, TAU in (0, 1]."""
    text = text.strip().replace(" ", "")
    if text == "exact":
        return True
    if not text.startswith("chrf>="):
        return False
    try:
        return 0.0 < float(text[len("chrf>="):]) <= 1.0
    except ValueError:
        return False


def compile_template(template: str) -> re.Pattern[str]:
    """A system-prompt template as a whole-text regex: `{name}` matches any text, whitespace is
    loose, case is ignored, everything else is literal."""
    if not template.strip():
        raise ValueError("empty template")
    pieces = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", template.strip())
    pattern = []
    for piece in pieces:
        if re.fullmatch(r"\{[A-Za-z_][A-Za-z0-9_]*\}", piece):
            pattern.append(r"[\s\S]*?")
        elif piece:
            words = piece.split()
            literal = r"\s+".join(re.escape(w) for w in words)
            if piece[:1].isspace():
                literal = r"\s*" + literal
            if piece[-1:].isspace():
                literal += r"\s*"
            pattern.append(literal)
    return re.compile(r"\s*" + "".join(pattern) + r"\s*", re.IGNORECASE)


def parse_constellation(raw: Any, source: str = "constellation") -> Constellation:
    """Validate an already-parsed document; raise ConfigError listing every problem by key path."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping (models:, tasks:, defaults:)")
    try:
        constellation = Constellation.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{_path(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(f"{source} has {len(lines)} error(s):\n  " + "\n  ".join(lines)) from None
    problems = _cross_check(constellation)
    if problems:
        raise ConfigError(f"{source} has {len(problems)} error(s):\n  " + "\n  ".join(problems))
    return constellation


def load_constellation(path: str | Path) -> Constellation:
    """Read and validate a YAML (or JSON) constellation file."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"constellation file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_constellation(raw, str(path))


def missing_secrets(c: Constellation) -> list[str]:
    """Remote models whose key variable is named but unset (a warning at check time, an error
    only when a request actually needs that model)."""
    return [
        f"models.{name}.api_key_env: ${m.api_key_env} is not set"
        for name, m in c.remote_models().items()
        if m.api_key_env and not os.environ.get(m.api_key_env)
    ]
