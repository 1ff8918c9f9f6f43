"""Findings of texts the detector has read before, so a text every request repeats is read once.

Real traffic repeats itself: a task's system prompt (instructions, few-shot examples) comes with
every request, often the longest text in it, and detection is the gateway's largest per-request
cost. Detection is deterministic given the text, so its findings can be kept, keyed by a digest
of the text. The text itself is never kept: the cache holds spans, types and scores, which say
nothing without the text (bench/privacy_cache.py measures what it saves).

A finding may depend on the second name reader's budget (name_reader.ReadingBudget): a request
reads at most so many windows. An entry records the windows its text took; a hit charges them to
the request's budget as a fresh read would, and is refused when the budget has fewer left (then
the text is read again, under the budget it has). A read that exhausted its budget is not kept.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from rightmodel.privacy.entities import Entity

MIN_CHARS = 64  # shorter texts are cheap to read and rarely repeat


@dataclass(frozen=True)
class Cached:
    found: tuple[Entity, ...]
    windows: int  # reader windows the text took


class FindingsCache:
    """A bounded, thread-safe LRU of findings by text digest (the CPU pool's threads share it)."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._items: OrderedDict[bytes, Cached] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(text: str, unsure: bool) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16, person=b"U" if unsure else b"S").digest()

    def get(self, key: bytes) -> Cached | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return hit

    def put(self, key: bytes, found: list[Entity], windows: int) -> None:
        with self._lock:
            self._items[key] = Cached(tuple(found), windows)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
