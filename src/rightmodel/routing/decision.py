"""Which model serves a request, and why.

`model` may name a task (its specialist answers, escalating when unsure), a specialist model (it
always answers), a remote model (passthrough) or `auto`. For `auto` the task comes, in order,
from `metadata.task`, the `x-rightmodel-task` header, a system-prompt template, or embedding
similarity to the task's example prompts; with no task the default generalist serves it. The
reason string travels with the answer and into the ledger, so every route can be explained.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from rightmodel.constellation.config import Constellation, SpecialistModelConfig, compile_template
from rightmodel.errors import RightmodelError
from rightmodel.messages import specialist_input, system_prompt

TASK_HEADER = "x-rightmodel-task"
GENERATIVE_ONLY = ("tools", "functions", "logprobs", "n")  # parameters a classifier cannot honour


class NoRoute(RightmodelError):
    """The request cannot be routed: it names no model or task of this gateway, or asks for
    something its route cannot give. `param` and `code` name the field at fault; `unknown_model`
    marks a model that does not exist (the gateway answers 404 then, 400 otherwise)."""

    def __init__(self, message: str, *, param: str, code: str, unknown_model: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.unknown_model = unknown_model


@dataclass(frozen=True)
class Decision:
    """The first hop of a request and the reason for it.

    route "specialist": `specialist` answers; if `escalate_to` is set and its confidence is below
    the threshold, that remote model answers instead. route "remote": `remote` answers (with its
    configured fallbacks).
    """

    route: Literal["specialist", "remote"]
    reason: str
    task: str | None = None
    specialist: str | None = None
    remote: str | None = None
    escalate_to: str | None = None
    threshold: float | None = None  # task override of the calibrated threshold
    must_answer: bool = False  # a specialist named directly answers whatever its confidence
    # The task's on_unsure (constellation/config.py TaskConfig): what a request below the
    # threshold gets when it does not escalate. With `guess` or `error` the decision carries no
    # escalation target, so an unsure request never reaches a remote model.
    on_unsure: Literal["escalate", "guess", "error"] = "escalate"
    # A learned router's choice of remote model (instead of `remote` / `escalate_to`): (model, why).
    # Deferred, because it costs milliseconds of CPU and is only needed when a remote model answers:
    # not when the specialist is confident. The gateway runs it off the event loop.
    pick: Callable[[], tuple[str, str]] | None = None

    @property
    def escalates(self) -> bool:
        return self.escalate_to is not None or self.pick is not None


def generative_parameter(body: Mapping[str, Any]) -> str | None:
    """The first parameter that asks for something only a generative model can give."""
    for key in GENERATIVE_ONLY:
        value = body.get(key)
        if key == "n":
            if isinstance(value, int) and value > 1:
                return key
        elif value:
            return key
    return None


class Router:
    """Routing tables built once from the constellation; `decide` is called per request."""

    def __init__(
        self,
        constellation: Constellation,
        embed: Callable[[Sequence[str]], np.ndarray] | None = None,
        learned: Mapping[str, Any] | None = None,
    ) -> None:
        self.c = constellation
        self.embed = embed
        self.learned = dict(learned or {})  # task -> RouterPolicy (rightmodel/router/serving.py)
        # task -> its specialist model now: the config's, until a shadow candidate is promoted
        # (gateway/shadow.py); the gateway's state owns this dict and updates it in place.
        self.specialist_of: dict[str, str | None] = {name: cfg.specialist for name, cfg in constellation.tasks.items()}
        self.templates: list[tuple[str, re.Pattern[str]]] = [
            (task, compile_template(t)) for task, cfg in constellation.tasks.items() for t in cfg.recognise.system_prompts
        ]
        self.example_tasks: list[str] = []
        self.example_vectors: np.ndarray | None = None
        examples = [(task, text) for task, cfg in constellation.tasks.items() for text in cfg.recognise.examples]
        if examples and embed is not None:
            self.example_tasks = [task for task, _ in examples]
            self.example_vectors = embed([text for _, text in examples])

    def model_ids(self) -> list[str]:
        """What GET /v1/models lists: auto, tasks, then models."""
        return ["auto", *self.c.tasks, *self.c.models]

    def decide(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> Decision:
        model = body["model"]
        if model == "auto":
            return self._auto(body, headers)
        if model in self.c.tasks:
            return self._task(model, body, f"model names task {model}")
        target = self.c.models.get(model)
        if isinstance(target, SpecialistModelConfig):
            blocked = generative_parameter(body)
            if blocked:
                raise NoRoute(
                    f"'{blocked}' is not supported by specialist model {model} (a classifier)", param=blocked, code="unsupported_parameter"
                )
            return Decision("specialist", f"model names specialist {model}", task=target.task or model, specialist=model, must_answer=True)
        if target is not None:
            return Decision("remote", f"model names remote model {model}", remote=model)
        raise NoRoute(
            f"model '{model}' does not exist: use 'auto', a task or a model listed at /v1/models", param="model", code="model_not_found",
            unknown_model=True,
        )

    def _task(self, task: str, body: Mapping[str, Any], why: str) -> Decision:
        cfg = self.c.tasks[task]
        target = cfg.escalate_to or self.c.defaults.generalist
        pick = None
        policy = self.learned.get(task)
        if policy is not None:  # a learned router picks the remote model for this prompt, when one is needed
            target, pick = None, partial(policy.choose, specialist_input(body["messages"], cfg.input))
        blocked = generative_parameter(body)
        if blocked:
            if target is None and pick is None:
                raise NoRoute(
                    f"'{blocked}' needs a generative model and task {task} has no escalation target", param=blocked, code="unsupported_parameter"
                )
            return Decision("remote", f"{why}; '{blocked}' needs a generative model", task=task, remote=target, pick=pick)
        specialist = self.specialist_of.get(task, cfg.specialist)
        if specialist is None:  # no specialist yet (its traffic may be captured for distillation)
            return Decision("remote", f"{why}; the task has no specialist yet", task=task, remote=target, pick=pick)
        if cfg.on_unsure != "escalate":  # the task answers unsure requests itself (a guess or an error)
            target, pick = None, None
        return Decision("specialist", why, task=task, specialist=specialist, escalate_to=target, threshold=cfg.threshold, pick=pick,
                        on_unsure=cfg.on_unsure)

    def _auto(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> Decision:
        metadata = body.get("metadata") or {}
        named = metadata.get("task") if isinstance(metadata, dict) else None
        if named is not None:
            if named not in self.c.tasks:
                raise NoRoute(f"metadata.task '{named}' is not a task of this gateway", param="metadata.task", code="unknown_task")
            return self._task(named, body, f"metadata.task names {named}")
        header = headers.get(TASK_HEADER)
        if header:
            if header not in self.c.tasks:
                raise NoRoute(f"header {TASK_HEADER} '{header}' is not a task of this gateway", param=TASK_HEADER, code="unknown_task")
            return self._task(header, body, f"header names task {header}")
        messages = body["messages"]
        system = system_prompt(messages)
        if system:
            for task, pattern in self.templates:
                if pattern.fullmatch(system):
                    return self._task(task, body, f"system prompt matches a template of {task}")
        if self.example_vectors is not None and self.embed is not None:
            probe = system or specialist_input(messages)
            if probe:
                sims = self.example_vectors @ self.embed([probe])[0]
                best = int(np.argmax(sims))
                task = self.example_tasks[best]
                if sims[best] >= self.c.tasks[task].recognise.similarity:
                    return self._task(task, body, f"prompt similar to an example of {task} ({sims[best]:.2f})")
        if self.c.defaults.generalist is None:
            raise NoRoute(
                "no task matched this request and defaults.generalist is not set: name a model or a task", param="model", code="no_route"
            )
        return Decision("remote", "no task matched; default generalist", remote=self.c.defaults.generalist)
