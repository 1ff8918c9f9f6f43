"""What one call to a model used, in tokens, and the price that turns that into dollars.

Backends report `Usage`; the constellation's cost model (constellation/costs.py) prices it, and
the guard's budgets (gateway/limits.py) reserve against it. Neither side needs the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Usage:
    """Token counts as the upstream reported them (zeros when it reported none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the provider billed at its cached-input price
    reported: bool = False  # False: the upstream sent no usage; the caller may estimate
    cache_write_tokens: int = 0  # prompt tokens written to the provider's cache (Anthropic bills them above input)


@dataclass
class Price:
    """List price in USD per million tokens."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cached_input_per_mtok: float | None = None  # None: cached tokens billed at the input price
    cache_write_per_mtok: float | None = None  # None: cache writes billed at the input price

    def cost(self, usage: Usage) -> float:
        cached_rate = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        write_rate = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        fresh = max(0, usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens)
        return (
            fresh * self.input_per_mtok
            + usage.cached_tokens * cached_rate
            + usage.cache_write_tokens * write_rate
            + usage.completion_tokens * self.output_per_mtok
        ) / 1e6
