"""Text as the upstream model will read it, with a map back to the characters the client sent.

A model reads "4539\u200b1488 0343 6467" as a card number, "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ" as an
e-mail address and `J\\u00fcrgen` inside a JSON string as "Jürgen"; detection must too. So detection
runs on a normalised copy: format characters that render as nothing (zero-width spaces and joiners,
soft hyphens, bidi controls) are dropped; each character (with its combining marks) is replaced by
its NFKC form (fullwidth digits and letters, ligatures); JSON string escapes (`\\u00fc`, `\\n`),
percent-encoded UTF-8 (`J%C3%BCrgen`) and HTML character references (`&#64;`) are decoded. Every
span found there maps back to the original characters it came from, so redaction replaces what
the client actually wrote.

Texts that need none of this (the common case) take a fast path: one C-level scan, no copy.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from urllib.parse import unquote_to_bytes

# Format characters that render as nothing and split a value for a regex but not for a reader.
_INVISIBLE = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufe00-\ufe0f\ufeff"
_ESCAPES = (
    rf"[{_INVISIBLE}]+"
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # a JSON-escaped surrogate pair
    r"|\\u[0-9a-fA-F]{4}|\\[\"\\/]|\\[nrt](?![a-z])"  # JSON string escapes ("\\nabla", "\\theta" are LaTeX)
    r"|(?:%[0-9A-Fa-f]{2})+"  # percent-encoded bytes
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});"  # HTML character references
)
_SPECIAL = re.compile(
    _ESCAPES
    + r"|.[\u0300-\u036f]+"  # a character and its combining marks
    r"|[^\x00-\x7f]"  # any other non-ASCII character
)
# For a text already in NFKC every character (with its marks) is its own NFKC form: only the
# escapes and invisible characters can change, and a page of accented prose is not walked
# character by character in Python.
_ESCAPES_ONLY = re.compile(_ESCAPES)
_NEEDS_WORK = re.compile(rf"[{_INVISIBLE}\\%&]")
_JSON_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "/": "/"}


class Normalised:
    """`text` (what detection reads) and the way back to offsets in the original string."""

    __slots__ = ("text", "_norm_starts", "_segments")

    def __init__(self, text: str, segments: list[tuple[int, int, int, int, bool]] | None) -> None:
        self.text = text
        # (norm_start, norm_len, orig_start, orig_len, copied) for each non-empty stretch of `text`;
        # None when `text` is the original itself.
        self._segments = segments
        self._norm_starts = [s[0] for s in segments] if segments else None

    @property
    def identity(self) -> bool:
        return self._segments is None

    def start(self, pos: int) -> int:
        """Where the character at `pos` of the normalised text begins in the original."""
        if self._segments is None:
            return pos
        norm, _, orig, _, copied = self._segments[bisect_right(self._norm_starts, pos) - 1]
        return orig + (pos - norm) if copied else orig

    def end(self, pos: int) -> int:
        """Where the normalised text's character `pos - 1` ends in the original (an exclusive end)."""
        if self._segments is None:
            return pos
        norm, _, orig, orig_len, copied = self._segments[bisect_right(self._norm_starts, pos - 1) - 1]
        return orig + (pos - norm) if copied else orig + orig_len


def normalise(text: str) -> Normalised:
    """The normalised reading of `text` (see the module docstring)."""
    nfkc = text.isascii() or unicodedata.is_normalized("NFKC", text)
    if nfkc and _NEEDS_WORK.search(text) is None:
        return Normalised(text, None)
    pieces: list[str] = []
    segments: list[tuple[int, int, int, int, bool]] = []
    norm = 0
    last = 0
    for m in (_ESCAPES_ONLY if nfkc else _SPECIAL).finditer(text):
        raw = m.group(0)
        replacement = _replace(raw)
        if replacement == raw:
            continue  # stays in the surrounding copied stretch
        start = m.start()
        if start > last:
            segments.append((norm, start - last, last, start - last, True))
            pieces.append(text[last:start])
            norm += start - last
        if replacement:
            segments.append((norm, len(replacement), start, len(raw), False))
            pieces.append(replacement)
            norm += len(replacement)
        last = m.end()
    if not segments:
        return Normalised(text, None)
    if last < len(text):
        segments.append((norm, len(text) - last, last, len(text) - last, True))
        pieces.append(text[last:])
    return Normalised("".join(pieces), segments)


def _replace(raw: str) -> str:
    first = raw[0]
    if first == "\\" and (raw[1] == "u" or raw[1] in _JSON_SIMPLE):  # not a backslash and combining marks
        if raw[1] == "u":
            if len(raw) == 12:  # surrogate pair
                high, low = int(raw[2:6], 16), int(raw[8:12], 16)
                return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            code = int(raw[2:6], 16)
            return raw if 0xD800 <= code <= 0xDFFF else unicodedata.normalize("NFKC", chr(code))
        return _JSON_SIMPLE[raw[1]]
    if first == "%":
        try:
            return unicodedata.normalize("NFKC", unquote_to_bytes(raw).decode("utf-8"))
        except UnicodeDecodeError:
            return raw
    if first == "&":
        decoded = html.unescape(raw)
        return unicodedata.normalize("NFKC", decoded) if decoded != raw else raw
    if raw.strip(_INVISIBLE_CHARS) == "":
        return ""
    return unicodedata.normalize("NFKC", raw)


def _expand(ranges: str) -> str:
    out = []
    i = 0
    while i < len(ranges):
        if i + 2 < len(ranges) and ranges[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(ranges[i]), ord(ranges[i + 2]) + 1))
            i += 3
        else:
            out.append(ranges[i])
            i += 1
    return "".join(out)


_INVISIBLE_CHARS = _expand(_INVISIBLE)
