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
        self.tagger = None
        if "PERSON" in config.entities and config.name_tagger:
            from rightmodel.privacy.name_tagger import NameTagger

            self.tagger = NameTagger()

    @property
    def custom_types(self) -> frozenset[str]:
        return self.patterns.custom_types

    def detect(self, text: str) -> list[Entity]:
        if not text or text.isspace():
            return []
        found = self.patterns.find(text)
        if self.names is not None or self.tagger is not None:
            # Name models read the text with pattern findings blanked out (same length, so
            # offsets hold): "Porter/troy91@example.net" must not become one PERSON token.
            plain = _blank(text, found) if found else text
            seen = self.names.find_all(plain) if self.names is not None else []
            names = [e for e in seen if not e.type.startswith("other:")]
            if self.tagger is not None:
                vetoes = [e for e in seen if e.type in VETO or e.type == "LOCATION"]
                tagged = [e for e in self.tagger.find(plain) if not any(_overlap(e, v) for v in vetoes)]
                names = _merge_people(text, names + tagged)
            found.extend(names)
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


# spaCy entities that overrule the tagger: a place, a nationality, a date or a number is not a
# person. (Not ORG: spaCy's small model often calls people's names ORG.)
VETO = frozenset(f"other:{label}" for label in ("GPE", "LOC", "FAC", "NORP", "DATE", "TIME", "MONEY", "PERCENT", "QUANTITY", "ORDINAL", "CARDINAL", "LANGUAGE"))


def _overlap(a: Entity, b: Entity) -> bool:
    return a.start < b.end and b.start < a.end


def _blank(text: str, spans: list[Entity]) -> str:
    chars = list(text)
    for e in spans:
        chars[e.start:e.end] = " " * (e.end - e.start)
    return "".join(chars)


def _merge_people(text: str, found: list[Entity]) -> list[Entity]:
    """spaCy's and the tagger's PERSON spans as one span where they overlap or touch, so the
    longer reading wins ("Joost" + "de Bock" -> "Joost de Bock"); other types pass through."""
    people = sorted((e for e in found if e.type == "PERSON"), key=lambda e: e.start)
    merged: list[Entity] = []
    for e in people:
        if merged and (e.start <= merged[-1].end or text[merged[-1].end:e.start].strip(" ") == ""):
            last = merged[-1]
            merged[-1] = Entity(last.start, max(last.end, e.end), "PERSON", max(last.score, e.score), "ner+tagger")
        else:
            merged.append(e)
    return merged + [e for e in found if e.type != "PERSON"]
