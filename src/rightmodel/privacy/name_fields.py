"""Names by the field they fill: `"last_name": "Radde"`, `customer="jacqulyn facundo"`,
`Assistant: Chaiwut`, a CSV column or an SQL column headed first_name.

The tagger reads two words either side of a token, so in `{"first_name": "Mina"}` the key is out
of its sight and a lone "Mina" has nothing around it that says name. Payloads, forms, logs and
tables say it in the field's name instead. A field whose name says "a person's name"
(first_name, surname, card_holder, ...) marks its value as a name whatever the value; a field
that often holds one (name, author, owner, from, agent, ...) marks it only when the value looks
like one: one to four words, no digits, no stop words, each a name some list holds or no
dictionary word, one case throughout ("Widget Pro", "prod-db-1", "Sure, I can help" stay).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator

from rightmodel.privacy.entities import Entity
from rightmodel.privacy.name_scoring import Info

# Field names (letters only, lower case) whose value is a person's name.
_ROLES = ("first given family last middle sur fore maiden full legal display contact customer client patient employee "
          "author passenger guest member student applicant recipient sender beneficiary tenant owner holder cardholder "
          "accountholder account card parent guardian spouse emergency driver witness signer signatory").split()
NAME_FIELDS = frozenset([r + "name" for r in _ROLES] + [r + "names" for r in _ROLES] + [
    "surname", "surnames", "forename", "forenames", "cardholder", "accountholder", "holder", "nameoncard", "fullnames"])
# Field names that often hold one: the value must look like a name.
MAYBE_NAME_FIELDS = frozenset((
    "name names person contact customer client patient employee applicant passenger guest member tenant landlord "
    "author owner assignee reporter requester requestor approver reviewer manager agent assistant organizer organiser "
    "attendee host speaker user username from to cc bcc sender recipient witness beneficiary driver adjuster viewer "
    "provider doctor physician nurse teacher student chair approvedby requestedby signedby createdby assignedto "
    "submittedby reportedby preparedby updatedby modifiedby ownedby handledby escalatedto maintainer "
    "buddy mentor mentee coach supervisor lead interviewer interviewee candidate caller oncall primary secondary "
    "backup").split())

_VALUE_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.\-]|\\u[0-9a-fA-F]{4})*\.?$")
# "key": "value" (JSON), 'key': 'value' (Python), key="value" / key: 'value' (code, logs, YAML).
_QUOTED = re.compile(
    r"""(?:"(?P<k1>[A-Za-z][\w .-]{0,40})"|'(?P<k2>[A-Za-z][\w .-]{0,40})'|(?<![\w.$])(?P<k3>[A-Za-z][A-Za-z_]{0,40}))"""
    r"""\s*[:=]\s*(?:"(?P<v1>(?:[^"\\\n]|\\.){1,100})"|'(?P<v2>[^'\n]{1,100})')""")
# Key: value on a line of its own (forms, mail headers, YAML): the value runs to an e-mail in
# <...>, a bracket or a separator, and then stops at the next key or sentence (_line_value_length).
_LINE = re.compile(r"^[ \t>*#-]*(?P<key>[A-Za-z][A-Za-z _.-]{0,30}?)[ \t]*:[ \t]+(?P<val>[^\n<(\[|;/]{1,100})", re.MULTILINE)
# The same inside a line, after a space or separator ("primary: Tanner secondary: Eula"): one word
# as key, so prose with a colon ("Note the following: ...") names no field the lists hold.
# The value is a lookahead so that the next key on the line is matched too.
_INLINE = re.compile(r"(?<=[ \t,;|])(?P<key>[A-Za-z][A-Za-z_.-]{0,30}):[ \t]+(?=(?P<val>[^\n<(\[|;/]{1,100}))")
# Inside a line these keys are prose more often than fields ("Translate the text below to: French").
_PROSE_KEYS = frozenset(("to", "from", "cc", "bcc"))
# Where a line's value stops short of the line's end: the next "key:" on the line, or the end of a
# sentence ("Agent: Gary. Keys with the concierge") unless the dot closes an initial or a title,
# or a spaced dash ("Buddy: Chi - Start date: ...").
_NEXT_KEY = re.compile(r"[ \t]+[A-Za-z][A-Za-z_.-]{0,30}:(?:[ \t]|$)|[ \t]+[-–—][ \t]")
_SENTENCE_END = re.compile(r"(?<!\b(?:Mr|Ms|Dr|St|Jr|Sr|Lt))(?<!\b(?:Mrs|Rev|Col|Gen|Sgt|Hon))"
                           r"(?<!\b(?:Prof|Capt))(?<=[^\W\d_]{2})\.[ \t]+(?=\S)")
_QUERY = re.compile(r"[?&](?P<key>[A-Za-z_]{1,30})=(?P<val>[^&\s#]{1,100})")
_SQL = re.compile(r"\((?P<cols>[\w\s,`\"\[\]]{3,400})\)\s*VALUES\s*(?P<rows>(?:\([^()\n]{1,2000}\)\s*,?\s*)+)", re.IGNORECASE)
_SQL_ROW = re.compile(r"\(([^()\n]{1,2000})\)")
_TITLES = re.compile(r"(?:,\s*|\s+)(?:MD|PhD|DDS|RN|Esq|Jr|Sr|II|III)\.?\s*$")


def field_kind(key: str) -> str | None:
    """"name" (the value is a name), "maybe" (it is when it looks like one) or None."""
    k = re.sub(r"[^a-z]", "", key.lower())
    if k in NAME_FIELDS:
        return "name"
    if k in MAYBE_NAME_FIELDS:
        return "maybe"
    return None


def find_field_names(text: str, describe: Callable[[str], Info]) -> list[Entity]:
    """PERSON spans of values in fields that hold names (see the module docstring)."""
    found: list[Entity] = []
    for start, end, kind in _candidates(text):
        span = _name_value(text, start, end, kind, describe)
        if span is not None:
            found.append(Entity(span[0], span[1], "PERSON", 0.85, "field"))
    return found


def _candidates(text: str) -> Iterator[tuple[int, int, str]]:
    if ":" in text or "=" in text:
        for m in _QUOTED.finditer(text):
            kind = field_kind(m.group("k1") or m.group("k2") or m.group("k3"))
            if kind:
                g = "v1" if m.group("v1") is not None else "v2"
                yield m.start(g), m.end(g), kind
    if ":" in text:
        for pattern in (_LINE, _INLINE):
            for m in pattern.finditer(text):
                kind = field_kind(m.group("key"))
                if kind and not (pattern is _INLINE and m.group("key").lower() in _PROSE_KEYS):
                    yield m.start("val"), m.start("val") + _line_value_length(m.group("val")), kind
    if "=" in text:
        for m in _QUERY.finditer(text):
            kind = field_kind(m.group("key"))
            if kind:
                yield m.start("val"), m.end("val"), kind
    if "VALUES" in text.upper():
        yield from _sql_values(text)
    if "," in text:
        yield from _csv_columns(text)


def _line_value_length(value: str) -> int:
    """How much of a `key: value` line's rest is the value: up to the next key or sentence end."""
    cut = len(value)
    for pattern in (_NEXT_KEY, _SENTENCE_END):
        m = pattern.search(value)
        if m:
            cut = min(cut, m.start())
    return cut


def _name_value(text: str, start: int, end: int, kind: str, describe: Callable[[str], Info]) -> tuple[int, int] | None:
    value = text[start:end]
    core = _TITLES.sub("", value.rstrip(" .,\t")).strip()
    if not core or core[0] in "\"'":
        return None
    lead = value.find(core)
    words = core.replace(",", " , ").split()
    if words.count(",") > 1 or words[0] == "," or words[-1] == ",":
        return None
    names = [w for w in words if w != ","]
    if not 1 <= len(names) <= 4 or not all(_VALUE_WORD.match(w) for w in names):
        return None
    if kind == "maybe" and not _looks_like_a_name([describe(_decoded(w)) for w in names]):
        return None
    if kind == "name" and any("s" in describe(_decoded(w)).flags for w in names):
        return None  # "first_name": "the customer's" — prose, not a value
    return start + lead, start + lead + len(core)


def _decoded(word: str) -> str:
    if "\\u" not in word:
        return word
    try:
        return json.loads('"' + word + '"')
    except ValueError:
        return word


def _looks_like_a_name(infos: list[Info]) -> bool:
    parts = [i for i in infos if "p" not in i.flags and i.case != "I"]
    if not parts or any("s" in i.flags for i in parts):
        return False
    cases = {i.case for i in parts}
    if cases == {"L"}:
        # Lower case says nothing: two words or more, none of them vocabulary ("ward clerk", "web").
        return len(parts) >= 2 and not any(i.gaz[3] == "d" for i in parts) and any(i.gaz[:2] != "00" for i in parts)
    if not cases <= set("TUM"):
        return False
    # The name lists hold nearly every word somewhere ("Pro", "Release", "Bot"): no everyday word
    # unless a top name ("Mark"), no other dictionary word unless listed, and one word that is a
    # name and nothing else ("Mildred", "Okafor"), or, capitalised, no word any list knows ("Walwyn").
    if any(i.gaz[2:] == "cd" and "1" not in i.gaz[:2] for i in parts) or any(i.gaz[3] == "d" and i.gaz[:2] == "00" for i in parts):
        return False
    if len(parts) == 1 and parts[0].case == "T" and parts[0].gaz[0] == "1":
        return True  # a top-100 given name alone in a person's field: "Agent: Mark", "Buddy: Chi"
    return any(i.gaz[:2] != "00" and i.gaz[3] != "d" for i in parts) or (cases <= set("TM") and all(i.gaz[:2] == "00" for i in parts))


def _sql_values(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _SQL.finditer(text):
        columns = [field_kind(c.strip(" `\"[]\n\t")) for c in m.group("cols").split(",")]
        if not any(columns):
            continue
        for row in _SQL_ROW.finditer(text, m.start("rows"), m.end("rows")):
            yield from _row_fields(text, row.start(1), row.group(1), columns, "'")


def _csv_columns(text: str) -> Iterator[tuple[int, int, str]]:
    """A header line naming a name column, then rows with as many fields as the header."""
    lines = text.split("\n")
    pos = 0
    columns: list[str | None] | None = None
    for line in lines:
        fields = line.split(",")
        if columns is not None and len(fields) == len(columns):
            yield from _row_fields(text, pos, line, columns, '"')
        elif len(fields) >= 2 and all(re.fullmatch(r"\s*\"?[A-Za-z][\w .-]{0,40}\"?\s*", f) for f in fields):
            kinds = [field_kind(f.strip(' "')) for f in fields]
            columns = kinds if any(kinds) else None
        else:
            columns = None
        pos += len(line) + 1


def csv_fields(line: str, delimiter: str, quote: str = '"') -> list[str] | None:
    """One line's fields as the csv module reads them, or None when it cannot (a carriage return
    inside a field of a request body is no CSV: "new-line character seen in unquoted field")."""
    try:
        return next(csv.reader([line], delimiter=delimiter, quotechar=quote, skipinitialspace=True), [])
    except csv.Error:
        return None


def locate(line: str, values: list[str]) -> list[tuple[int, int] | None]:
    """Where each of a line's csv values stands in it, left to right; None for an empty value or
    one not written verbatim (a quoted value with doubled quotes)."""
    out: list[tuple[int, int] | None] = []
    at = 0
    for value in values:
        found = line.find(value, at) if value else -1
        if found < 0:
            out.append(None)
            continue
        out.append((found, found + len(value)))
        at = found + len(value)
    return out


def _row_fields(text: str, offset: int, row: str, columns: list[str | None], quote: str) -> Iterator[tuple[int, int, str]]:
    values = csv_fields(row, ",", quote)
    if values is None or len(values) != len(columns):
        return
    for span, kind in zip(locate(row, values), columns):
        if span is not None and kind:
            yield offset + span[0], offset + span[1], kind
