"""What detection finds: a typed span of text. Values never leave this process in a finding."""

from __future__ import annotations

from dataclasses import dataclass

# When spans overlap, the earlier type wins: validated formats (checksums, TLDs) over looser ones,
# patterns over the NER model (an e-mail address often contains a name), an IBAN over the
# card-like digit run inside it.
PRIORITY = (
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "CREDIT_CARD",
    "US_SSN",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "PERSON",
    "LOCATION",
)


@dataclass(frozen=True, slots=True)
class Entity:
    start: int
    end: int
    type: str
    score: float
    source: str  # "pattern", "phone", "ner", "custom"

    def shifted(self, offset: int) -> "Entity":
        return Entity(self.start + offset, self.end + offset, self.type, self.score, self.source)


def resolve_overlaps(found: list[Entity], custom_types: frozenset[str] = frozenset()) -> list[Entity]:
    """Non-overlapping spans, sorted by start: custom types first, then PRIORITY, longer first."""

    def rank(e: Entity) -> tuple[int, int, int]:
        order = -1 if e.type in custom_types else (PRIORITY.index(e.type) if e.type in PRIORITY else len(PRIORITY))
        return (order, -(e.end - e.start), e.start)

    kept: list[Entity] = []
    for e in sorted(found, key=rank):
        if e.end > e.start and all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e.start)
