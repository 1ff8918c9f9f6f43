"""Admission control: who may call, what, how often, and for how much.

`Guard.admit` runs once per request after the body is read and validated, before routing; it
raises `APIError` (401/403/429) to refuse and may attach a grant (e.g. a budget reservation) to
the ticket. `Guard.settle` runs exactly once per request, when its ledger row is written, with
the request's actual cost and tokens on the ticket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request

if TYPE_CHECKING:
    from rightmodel.gateway.chat import Ticket


class OpenGuard:
    """No keys configured: everyone is admitted (the gateway logs a warning at startup)."""

    async def admit(self, request: Request, body: dict[str, Any] | None, t: "Ticket") -> None:
        return None

    def settle(self, t: "Ticket") -> None:
        return None

    async def aclose(self) -> None:
        return None


def build_guard(constellation, settings) -> OpenGuard:
    return OpenGuard()
