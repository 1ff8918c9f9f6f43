"""Backends: one protocol (`ChatBackend`) for everything that can answer a chat completion."""

from rightmodel.backends.base import ChatBackend, ChatResult, ChatStream, UpstreamError, Usage

__all__ = ["ChatBackend", "ChatResult", "ChatStream", "UpstreamError", "Usage"]
