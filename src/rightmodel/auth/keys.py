"""What an API key is: its secret's shape and hash, its record, and the spec it is made from.

A key reads ``rm-<key id>-<secret>``: the key id (12 hex digits) is not secret and names the
key everywhere (``keys list``, ``keys revoke``, the ledger's ``extra.key_id``), so a leaked key
found in the wild can be matched to its record and revoked; the secret is 32 random bytes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KEY_PREFIX = "rm"
BUDGET_PERIODS = ("total", "monthly", "daily")
BudgetPeriod = Literal["total", "monthly", "daily"]
# Strictest first. A key's policy is combined with the task's: the stricter of the two applies.
PRIVACY_POLICIES = ("local-only", "redact", "allow")
PrivacyPolicy = Literal["local-only", "redact", "allow"]


def period_start(period: str, now: datetime) -> datetime | None:
    """Start of the budget period holding `now` (UTC); None for a total budget. Shared by the
    gateway's budgets and `keys list`, so both count a key's spend over the same period."""
    if period == "monthly":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    return None


def hash_key(key: str) -> str:
    """SHA-256 (hex) of the whole key: what the store keeps instead of the key.

    A fast hash is the right tool here, unlike for passwords: a key carries 256 random bits, so
    guessing a key from its hash is infeasible however fast the hash is, and what bcrypt/argon2
    add (slowing down guesses of low-entropy secrets) would only cost milliseconds on every
    request. The digest is looked up in a dict: no per-key comparison loop to time.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> tuple[str, str]:
    """(key id, key): a fresh key; the caller stores `hash_key(key)` and shows the key once."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}-{key_id}-{secrets.token_urlsafe(32)}"


class KeySpec(BaseModel):
    """What a new key may do; shared by `rightmodel keys create` and `POST /admin/keys`."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=256)
    name: str | None = Field(None, max_length=256)
    models: list[str] = Field(default_factory=list)  # tasks/models (and "auto", "embeddings") it may name; empty: all
    rpm: int | None = Field(None, ge=1)  # requests per minute
    tpm: int | None = Field(None, ge=1)  # tokens (prompt + completion) per minute
    budget_usd: float | None = Field(None, ge=0)
    budget_period: BudgetPeriod = "total"  # total, or per calendar month / day (UTC)
    admin: bool = False  # admin keys manage keys (/admin routes) and cannot call models
    # Privacy policy for this key's requests; None: the task's (or the default) policy alone.
    privacy: PrivacyPolicy | None = None

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value if v.strip()]
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class KeyRecord:
    """One stored key (never the secret)."""

    key_id: str
    key_hash: str = field(repr=False)
    tenant: str
    name: str | None
    models: tuple[str, ...]
    rpm: int | None
    tpm: int | None
    budget_usd: float | None
    budget_period: str
    admin: bool
    created_at: datetime
    revoked_at: datetime | None
    privacy: str | None = None  # one of PRIVACY_POLICIES, or None (no policy of the key's own)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, name: str) -> bool:
        """May this key name `name` as its model (a task, a model, "auto" or "embeddings")?"""
        return not self.models or name in self.models

    def public(self) -> dict[str, Any]:
        """For listings: everything but the hash."""
        return {
            "id": self.key_id,
            "tenant": self.tenant,
            "name": self.name,
            "models": list(self.models),
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_usd": self.budget_usd,
            "budget_period": self.budget_period,
            "admin": self.admin,
            "privacy": self.privacy,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }
