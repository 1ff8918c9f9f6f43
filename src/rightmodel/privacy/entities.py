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


def _start(e: "Entity") -> int:
    return e.start


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
    """Non-overlapping spans, sorted by start: custom types first, then PRIORITY, longer first.

    Linear in the text's length: characters already taken are marked in a byte array, so each
    candidate costs its own length (the pairwise check it replaces was quadratic in findings).
    """
    if len(found) < 2:
        return [e for e in found if e.end > e.start]
    in_order = sorted(found, key=_start)
    if all(a.end <= b.start for a, b in zip(in_order, in_order[1:])) and all(e.end > e.start for e in in_order):
        return in_order  # nothing overlaps (the common case): no ranking needed
    order = {t: i for i, t in enumerate(PRIORITY)}

    def rank(e: Entity) -> tuple[int, int, int]:
        return (-1 if e.type in custom_types else order.get(e.type, len(PRIORITY)), e.start - e.end, e.start)

    taken = bytearray(max(e.end for e in found))
    kept: list[Entity] = []
    for e in sorted(found, key=rank):
        if e.end > e.start and taken.find(1, e.start, e.end) < 0:
            taken[e.start:e.end] = b"\x01" * (e.end - e.start)
            kept.append(e)
    kept.sort(key=lambda e: e.start)
    return kept
