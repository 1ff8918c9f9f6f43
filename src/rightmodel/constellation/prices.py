"""List prices of common frontier models, so costs and counterfactuals work out of the box.

USD per million tokens, as the providers published them on the date below. Prices change:
a constellation's own `price:` always wins, and `defaults.frontier` may name any model here
without configuring an endpoint for it (it is then only a price reference).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PRICES_AS_OF = "2025-06-01"


class PriceConfig(BaseModel):
    """List price in USD per million tokens (a constellation's `price:`, or this table's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # as config.py's Strict models

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)
    cached_input_per_mtok: float | None = Field(None, ge=0)
    cache_write_per_mtok: float | None = Field(None, ge=0)  # prompt-cache writes (Anthropic: 1.25x input); default: input price


# model id: (input, output, cached input); Anthropic's 5-minute cache writes cost 1.25x input (CACHE_WRITE).
LIST_PRICES: dict[str, tuple[float, float, float | None]] = {
    "gpt-4o": (2.50, 10.00, 1.25),
    "gpt-4o-mini": (0.15, 0.60, 0.075),
    "gpt-4.1": (2.00, 8.00, 0.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "gpt-4.1-nano": (0.10, 0.40, 0.025),
    "o3": (2.00, 8.00, 0.50),
    "o4-mini": (1.10, 4.40, 0.275),
    "claude-opus-4": (15.00, 75.00, 1.50),
    "claude-sonnet-4": (3.00, 15.00, 0.30),
    "claude-3-5-haiku": (0.80, 4.00, 0.08),
}


CACHE_WRITE_FACTOR = {"claude-": 1.25}


def list_price(model: str) -> PriceConfig | None:
    """The table's price for `model`, also matching dated ids such as claude-sonnet-4-20250514."""
    for name in sorted(LIST_PRICES, key=len, reverse=True):
        if model == name or model.startswith(name + "-"):
            inp, out, cached = LIST_PRICES[name]
            write = next((inp * f for prefix, f in CACHE_WRITE_FACTOR.items() if name.startswith(prefix)), None)
            return PriceConfig(input_per_mtok=inp, output_per_mtok=out, cached_input_per_mtok=cached, cache_write_per_mtok=write)
    return None
