"""Where a lower-case word is code, not a person: inside Markdown code, or a file or domain suffix.

A name tagger that finds lower-case names ("billie smith") also believes lower-case identifiers
("qty", "dims", "py" in "main.py"). People's names are not written inside Markdown code spans or
fences as bare lower-case words, nor glued after a dot to a word ("Node.js", "archive.gz"; an initial is not a word: "j.smith"): those
are identifiers, file types and domains. Capitalised words there keep their finding (a name in a
JSON string inside a code fence is still a name).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from rightmodel.privacy.entities import Entity

_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.DOTALL)


class CodeSpans:
    """The Markdown code regions of one text, asked per finding by bisection."""

    def __init__(self, text: str) -> None:
        self.text = text
        spans = [m.span() for m in _CODE.finditer(text)] if "`" in text else []
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]

    def inside(self, start: int, end: int) -> bool:
        i = bisect_right(self.starts, start) - 1
        return i >= 0 and end <= self.ends[i]

    def is_code(self, e: Entity) -> bool:
        """Whether a lower-case finding is code: in a code region, or a suffix glued by a dot."""
        value = self.text[e.start:e.end]
        if not value.islower():
            return False
        # glued after a dot to a word of two or more characters: "Node.js", not the initial of "j.smith"
        glued = e.start >= 3 and self.text[e.start - 1] == "." and self.text[e.start - 3:e.start - 1].isalnum()
        return glued or self.inside(e.start, e.end)


def without_code(text: str, found: list[Entity]) -> list[Entity]:
    """`found` minus lower-case findings that are code (see the module docstring)."""
    if not found:
        return found
    spans = CodeSpans(text)
    return [e for e in found if not spans.is_code(e)]
