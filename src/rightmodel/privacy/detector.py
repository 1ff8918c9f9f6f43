"""One `Detector` per gateway: patterns plus names, overlaps resolved, in one call per text."""

from __future__ import annotations

from rightmodel.privacy.config import NER_ENTITIES, PrivacyConfig
from rightmodel.privacy.entities import Entity, resolve_overlaps


class Detector:
    """Finds sensitive spans in text. Loading takes a few seconds (spaCy), so build it once."""

    def __init__(self, config: PrivacyConfig) -> None:
        from rightmodel.privacy.names import NameDetector
        from rightmodel.privacy.patterns import PatternDetector

        self.config = config
        self.patterns = PatternDetector(config)
        ner_types = tuple(e for e in config.entities if e in NER_ENTITIES)
        self.names = NameDetector(config.ner_model, ner_types) if ner_types else None

    @property
    def custom_types(self) -> frozenset[str]:
        return self.patterns.custom_types

    def detect(self, text: str) -> list[Entity]:
        if not text or text.isspace():
            return []
        found = self.patterns.find(text)
        if self.names is not None:
            # The NER model reads the text with pattern findings blanked out (same length, so
            # offsets hold): "Porter/troy91@example.net" must not become one PERSON token.
            found.extend(self.names.find(_blank(text, found) if found else text))
        return resolve_overlaps(found, self.custom_types)

    def scrub(self, text: str) -> str:
        """`text` with every finding replaced by its type in angle brackets (for logs and errors)."""
        out, last = [], 0
        for e in self.detect(text):
            out.append(text[last:e.start])
            out.append(f"<{e.type}>")
            last = e.end
        out.append(text[last:])
        return "".join(out)


def _blank(text: str, spans: list[Entity]) -> str:
    chars = list(text)
    for e in spans:
        chars[e.start:e.end] = " " * (e.end - e.start)
    return "".join(chars)
