"""What a request cost, and what it would have cost had the default frontier model served it.

Remote models: the upstream's reported usage times the constellation's list prices (cached
prompt tokens at the cached price). Local models: measured compute seconds times the configured
hardware cost per hour, so a self-hosted model is never recorded as free. The counterfactual
prices the same request at the frontier model's rates; when the frontier did not serve it, its
token counts are estimates (documented in the ledger's `extra.estimated`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rightmodel.constellation.config import Constellation, PriceConfig
from rightmodel.messages import message_text
from rightmodel.usage import Price, Usage

CHARS_PER_TOKEN = 4.0  # rough English average for BPE tokenisers; used only for estimates
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per message, as chat formats add them


def price_of(config: PriceConfig) -> Price:
    return Price(config.input_per_mtok, config.output_per_mtok, config.cached_input_per_mtok, config.cache_write_per_mtok)


def estimate_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0


def estimate_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    return sum(estimate_tokens(message_text(m)) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def local_cost(compute_s: float, cost_per_hour: float) -> float:
    return compute_s * cost_per_hour / 3600.0


SECONDS_PER_MONTH = 365.25 / 12 * 86400  # 30.44 days: a calendar-average month


def fixed_cost(period_s: float, cost_per_month: float) -> float:
    """The share of a fixed monthly hardware cost that falls in a period (reports add it to local cost)."""
    return max(0.0, period_s) * cost_per_month / SECONDS_PER_MONTH


def remote_price(name: str, upstream_model: str | None, configured: PriceConfig | None) -> Price:
    """The configured price, else the list price of the upstream model id, else zero."""
    from rightmodel.constellation.prices import list_price

    config = configured or list_price(upstream_model or name) or list_price(name) or PriceConfig()
    return price_of(config)


class CostModel:
    """Prices of the constellation's remote models, and the frontier reference."""

    def __init__(self, constellation: Constellation) -> None:
        from rightmodel.constellation.prices import list_price

        self.prices = {name: remote_price(name, m.model, m.price) for name, m in constellation.remote_models().items()}
        self.frontier = constellation.defaults.frontier or constellation.defaults.generalist
        if self.frontier is not None and self.frontier not in self.prices:
            self.prices[self.frontier] = price_of(list_price(self.frontier) or PriceConfig())
        self.local_per_hour = constellation.defaults.local_cost_per_hour
        self.generators = frozenset(constellation.generators())  # local: priced by compute time too

    def remote(self, model: str, usage: Usage) -> float:
        price = self.prices.get(model)
        return price.cost(usage) if price else 0.0

    def counterfactual(self, usage: Usage) -> float:
        """Cost of the same tokens at the frontier model's prices (0 when none is configured)."""
        if self.frontier is None:
            return 0.0
        return self.prices[self.frontier].cost(usage)

    def local(self, compute_s: float) -> float:
        return local_cost(compute_s, self.local_per_hour)
