"""One `Detector` per gateway: patterns plus names, overlaps resolved, in one call per text."""

from __future__ import annotations

from collections.abc import Callable

from rightmodel.bounds import WorkCancelled
from rightmodel.privacy.code_spans import without_code
from rightmodel.privacy.config import NER_ENTITIES, PrivacyConfig
from rightmodel.privacy.entities import Entity, resolve_overlaps
from rightmodel.privacy.findings_cache import MIN_CHARS as CACHE_MIN_CHARS, FindingsCache
from rightmodel.privacy.name_echoes import echoes
from rightmodel.privacy.name_fields import find_field_names
from rightmodel.privacy.name_lists import list_mates
from rightmodel.privacy.name_reader import ReadingBudget
from rightmodel.privacy.name_speakers import find_speakers
from rightmodel.privacy.normalize import normalise


CHUNK_CHARS = 262_144  # long texts are read in pieces this long (see Detector.detect)
CHUNK_OVERLAP = 512  # ...each starting this far back into the previous one
# spaCy (LOCATION, or PERSON without the tagger) reads at most this much of a text: its cost per
# character is far above everything else here, and a request's detection must stay bounded.
NER_MAX_CHARS = 32_768


class Detector:
    """Finds sensitive spans in text. Loading takes a second or two, so build it once.

    PERSON comes from rightmodel's trained tagger (name_tagger.py); with `name_tagger: false`, from
    spaCy's NER. LOCATION (opt-in) from spaCy's NER, which is loaded only when one of those asks for
    it. Everything is found on the normalised text (normalize.py) and reported at the original
    characters.
    """

    def __init__(self, config: PrivacyConfig) -> None:
        from rightmodel.privacy.patterns import PatternDetector

        self.config = config
        self.patterns = PatternDetector(config)
        self.person = "PERSON" in config.entities
        self.location = "LOCATION" in config.entities
        self.tagger = None
        if self.person and config.name_tagger:
            from rightmodel.privacy.name_tagger import NameTagger

            self.tagger = NameTagger(threshold=config.name_threshold)
            if config.name_reader:
                from rightmodel.privacy.name_reader import NameReader

                self.tagger.reader = NameReader()
        self.cache = FindingsCache(config.cache_entries) if config.cache_entries else None
        self.names = None
        spacy_types = tuple(t for t, wanted in (("PERSON", self.person and self.tagger is None), ("LOCATION", self.location)) if wanted)
        if spacy_types:
            from rightmodel.privacy.names import NameDetector

            self.names = NameDetector(config.ner_model, spacy_types)

    @property
    def custom_types(self) -> frozenset[str]:
        return self.patterns.custom_types

    def detect(self, text: str, unsure: bool = False, cancelled: Callable[[], bool] | None = None,
               budget: ReadingBudget | None = None) -> list[Entity]:
        """Findings in `text`; with `unsure`, also names the tagger half-believes (for strict local-only).
        `budget`: what the second name reader may still read, shared by the calls of one request
        (None: a fresh budget for this call; ReadingBudget(0): tagger only).

        A text longer than CHUNK_CHARS is read in overlapping chunks, `cancelled` checked between
        them (WorkCancelled when it says stop): the cost stays linear and a caller that has gone
        stops paying for it within one chunk.
        """
        if not text or text.isspace():
            return []
        if budget is None:
            budget = ReadingBudget()
        key = None
        if self.cache is not None and len(text) >= CACHE_MIN_CHARS:
            key = FindingsCache.key(text, unsure)
            hit = self.cache.get(key)
            if hit is not None and budget.windows >= hit.windows:
                budget.take(hit.windows)
                return list(hit.found)
        before = budget.windows
        found = self._find(text, unsure, cancelled, budget)
        if key is not None and budget.windows > 0:  # a read the budget cut short is not kept
            self.cache.put(key, found, before - budget.windows)
        return found

    def _find(self, text: str, unsure: bool, cancelled: Callable[[], bool] | None, budget: ReadingBudget) -> list[Entity]:
        found = self._chunked(text, unsure, cancelled, budget) if len(text) > CHUNK_CHARS else self._detect(text, unsure, budget)
        if self.tagger is not None and any(e.type == "PERSON" for e in found):
            from rightmodel.privacy.name_repeats import recurrences

            found.sort(key=lambda e: e.start)
            more = recurrences(text, found, self.tagger.gazetteer, self.tagger.not_names)
            if more:
                found = sorted(found + more, key=lambda e: e.start)
        return found

    def _chunked(self, text: str, unsure: bool, cancelled: Callable[[], bool] | None, budget: ReadingBudget) -> list[Entity]:
        """Each chunk owns what starts in its core and reads CHUNK_OVERLAP characters of context on
        both sides, so a value or a name at a seam is judged with the same context as anywhere else."""
        found: list[Entity] = []
        for start in range(0, len(text), CHUNK_CHARS):
            if cancelled is not None and cancelled():
                raise WorkCancelled("privacy detection stopped: its request has gone")
            lo = max(0, start - CHUNK_OVERLAP)
            new = [e.shifted(lo) for e in self._detect(text[lo:start + CHUNK_CHARS + CHUNK_OVERLAP], unsure, budget)
                   if start <= e.start + lo < start + CHUNK_CHARS]
            # Only an entity of the previous chunk that runs past this seam can overlap a new one.
            tail = len(found)
            while tail and found[tail - 1].end > start:
                tail -= 1
            if tail < len(found):
                reach = max(e.end for e in found[tail:])
                head = next((i for i, e in enumerate(new) if e.start >= reach), len(new))
                found[tail:] = resolve_overlaps(found[tail:] + new[:head], self.custom_types)
                new = new[head:]
            found.extend(new)
        return found

    def _detect(self, text: str, unsure: bool, budget: ReadingBudget) -> list[Entity]:
        norm = normalise(text)
        plain = norm.text
        found = self.patterns.find(plain)
        if self.names is not None or self.tagger is not None:
            # Name models read the text with pattern findings blanked out (same length, so
            # offsets hold): "Porter/troy91@example.net" must not become one PERSON token.
            if found:
                plain = _blank(plain, found)
            if self.names is not None:
                found.extend(self.names.find(plain[:NER_MAX_CHARS]))
            if self.tagger is not None:
                found.extend(e for e in without_code(plain, self.tagger.find(plain, unsure, budget)) if not _lone_letter(plain, e))
                found.extend(find_field_names(plain, self.tagger.info))
                found.extend(find_speakers(plain, self.tagger.info))
                found.extend(list_mates(plain, [e for e in found if e.type == "PERSON"], self.tagger.info))
                emails = [norm.text[e.start:e.end] for e in found if e.type == "EMAIL_ADDRESS"]
                if emails:
                    found.extend(echoes(plain, emails, self.tagger.info))
        resolved = resolve_overlaps(found, self.custom_types)
        if norm.identity:
            return resolved
        return [Entity(norm.start(e.start), norm.end(e.end), e.type, e.score, e.source) for e in resolved]


def _lone_letter(text: str, e: Entity) -> bool:
    """A name finding that is one letter ("A.", "D.", "B"): an answer option, a variable, a party
    named by letter. One letter identifies nobody; an initial next to a name is part of that
    name's span."""
    return e.end - e.start <= 2 and len(text[e.start:e.end].rstrip(".")) == 1


def _blank(text: str, spans: list[Entity]) -> str:
    chars = list(text)
    for e in spans:
        chars[e.start:e.end] = " " * (e.end - e.start)
    return "".join(chars)
