"""OpenAI-shaped errors: one exception the handlers raise, one mapping to JSON.

Clients written against the OpenAI SDK read `error.message`, `error.type`, `error.param` and
`error.code`; the SDK picks its exception class from the HTTP status. Every 4xx names the field
at fault in `param` when there is one.
"""

from __future__ import annotations

from typing import Any

import orjson

from rightmodel.routing.decision import NoRoute

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
    499: "client_closed_request",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class APIError(Exception):
    """An error answer to the client; raised anywhere in a request, rendered once."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.headers = headers or {}
        self.extra = extra or {}  # more top-level keys beside "error" (e.g. the `rightmodel` field)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}, **self.extra}

    def body(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def summary(self) -> str:
        """What the ledger keeps: kind and message, no request content."""
        where = f" [{self.param}]" if self.param else ""
        return f"{self.status} {self.code or self.type}{where}: {self.message}"[:500]


def invalid(param: str, message: str, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def no_route(exc: NoRoute) -> APIError:
    """A request routing could not place: 404 for a model that does not exist, else 400."""
    return APIError(404 if exc.unknown_model else 400, exc.message, param=exc.param, code=exc.code)
