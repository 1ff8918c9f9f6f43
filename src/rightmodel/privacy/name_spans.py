"""How far a found name reaches: the tokens next to it that belong to the same person's name.

The tagger scores tokens one by one, so a name's less telling parts fall out of its span: the
particles of "Rudecindo de la Zamorano" (lower-case words that are vocabulary elsewhere), the
other half of an inverted "Wieland, Linda" (a comma between), the surname after "Francesco E.",
the rare surname after a given name ("Shane Crawford" found as "Shane"). A redaction that keeps
those parts leaks most of the name, so a span found by the model grows over them by the grammar
of names, never from nothing: every rule starts at a found name, and a neighbour joins only when
it is name-like in the same case (a dictionary word, a stop word or punctuation never does).
"""

from __future__ import annotations

from rightmodel.privacy.name_scoring import Info

# Particles that open a surname ("de la Cruz", "van der Berg", "bin Kabiru"). Narrower than the
# tagger's list: words English uses on their own ("do", "ten", "e", "y") never join a name here.
SURNAME_PARTICLES = frozenset("van von de der den del della di da das dos du des la bin ibn bint ben al el zu ter mac mc".split())
MAX_PARTICLES = 3
# Before a comma they address the name after it ("hi, bob") or sign it ("best, tom"), never stand
# for its surname ("Wieland, Linda").
GREETINGS = frozenset("hi hey hello dear thanks thank thx cheers".split())
SIGN_OFFS = frozenset("best regards sincerely yours love warmly cordially respectfully".split())
_BEFORE_A_COMMA = GREETINGS | SIGN_OFFS
CAPITALISED = frozenset("TUM")  # title case, capitals, mixed ("McMurtrie"); lower case joins only lower case


# Short words the tokenizer keeps with their full stop that stand inside a name ("Prof. Ada Lind",
# "John Smith Jr."): a run of name tokens is not cut after them (sentences).
ABBREVIATIONS = frozenset("mr mrs ms mx dr prof capt rev herr frau mme mlle sgt hon gen col lt pres gov sen rep st sr sra "
                          "srta jr fr sir ing mgr bc dott sig".split())


def sentences(first: int, last: int, infos: list[Info]) -> list[tuple[int, int]]:
    """A run of name tokens cut where a sentence ends inside it: "Anna." + "John Smith" ("met
    Anna. John Smith called") are two people, two placeholders. The tokenizer keeps the full stop
    of a short capitalised word ("Anna.", "Dr.", "M."), so the cut is at such a word that is no
    initial and no title, before a capitalised one."""
    out = []
    start = first
    for i in range(first, last):
        low = infos[i].low
        if low.endswith(".") and len(low) > 2 and low[:-1] not in ABBREVIATIONS and infos[i + 1].case in CAPITALISED:
            out.append((start, i))
            start = i + 1
    out.append((start, last))
    return out


def widen(first: int, last: int, infos: list[Info]) -> tuple[int, int]:
    """(first, last) token of a found name, grown over the parts of the same name next to it.
    A lone letter ("u", "A.") is no name to grow from: the detector drops it (detector._lone_letter)."""
    if first == last and len(infos[first].low.rstrip(".")) == 1:
        return first, last
    first = _particles_before(first, infos)
    if first > 0 and _same_case(infos[first - 1], infos[first]) and _before_name(infos[first - 1]) \
            and not infos[first - 1].low.endswith("."):  # "Anna." ends a sentence, not a name
        first -= 1  # "Lee" + "Waters", "betty" + "de la aguayo", "Emory" + "Walwyn"
    if last + 1 < len(infos) and infos[last].case != "I" and not infos[last].low.endswith(".") \
            and _same_case(infos[last], infos[last + 1]) and _surname_like(infos[last + 1]):
        last += 1  # "Shane" + "Crawford"
    if sum("p" not in infos[i].flags for i in range(first, last + 1)) == 1:
        first, last = _inverted(first, last, infos)
    if infos[last].case == "I":
        last = _after_initial(last, infos)
    return first, last


def _same_case(a: Info, b: Info) -> bool:
    return (a.case in CAPITALISED and b.case in CAPITALISED) or (a.case == b.case == "L")


def _word(info: Info) -> bool:
    """Never part of a name here: stop words, particles, punctuation, numbers, initials."""
    return "s" in info.flags or "p" in info.flags or info.case not in "TUML"


def _listed(info: Info) -> bool:
    return info.gaz[:2] != "00"


def _given_name(info: Info) -> bool:
    """A word the given-name lists hold that is not vocabulary first ("Hubert", not "Will")."""
    return not _word(info) and info.gaz[0] != "0" and (info.gaz[3] != "d" or info.gaz[0] == "1")


def _before_name(info: Info) -> bool:
    """Right before a found name: a given name that is no word ("Emory" is listed, "ask" is a word
    some list holds too: "ask billie smith"), a capitalised one that is ("Milo"; an everyday word
    only if a top name: "Mark"), or a word no list or dictionary holds ("ghulaam"; in lower case at
    least four letters, so "lol" and "pls" stay out)."""
    if _word(info):
        return False
    if info.gaz[3] == "d":  # a dictionary word: a name capitalised, an everyday one only if a top name ("Mark"),
        # and in lower case only a top-100 given name ("jane" + "doe": before a found name, no longer the word)
        return info.gaz[0] == "1" or (info.case in CAPITALISED and info.gaz[0] != "0" and info.gaz[2] != "c")
    if info.gaz[0] != "0":
        return True
    return info.gaz[:2] == "00" and info.case != "U" and (info.case != "L" or len(info.low) >= 4)


def _surname_like(info: Info) -> bool:
    """A surname, or in title case a word no list holds: anything but a dictionary word unless the
    surname lists rank it ("Baker"). In lower case or capitals unknown words are too often
    something else ("lol", "ASAP"), so there a name list must hold it, and a dictionary word in
    lower case must be a top-1,000 surname ("green", not "says")."""
    if _word(info) or (info.gaz[3] == "d" and (info.gaz[1] == "0" or (info.case == "L" and info.gaz[1] == "3"))):
        return False
    return info.case in "TM" or _listed(info)


def _particles_before(first: int, infos: list[Info]) -> int:
    start = first
    while start > 0 and first - start < MAX_PARTICLES and infos[start - 1].low in SURNAME_PARTICLES \
            and infos[start - 1].case in "LT":
        start -= 1
    return start


def _inverted(first: int, last: int, infos: list[Info]) -> tuple[int, int]:
    """A lone name beside a comma and a name of the same case: "Wieland, Linda" (Linda found),
    "ALEXIOU, HELEN" (ALEXIOU found). A list of names ("Mark, Bob") becomes one span, which
    redacts the same words."""
    n = len(infos)
    if last + 2 < n and infos[last + 1].low == "," and _same_case(infos[last], infos[last + 2]) and _given_name(infos[last + 2]):
        return first, last + 2
    if first >= 2 and infos[first - 1].low == ",":
        other, name = infos[first - 2], infos[last]
        if other.low not in _BEFORE_A_COMMA and _same_case(other, name) and _surname_like(other) and (_given_name(name) or other.gaz[1] != "0"):
            return _particles_before(first - 2, infos), last
    return first, last


def _after_initial(last: int, infos: list[Info]) -> int:
    """"Olin M." + "McMurtrie", "Charles A." + "de Richer": the surname after a middle initial."""
    i = last + 1
    while i < len(infos) and i - last <= MAX_PARTICLES and infos[i].low in SURNAME_PARTICLES:
        i += 1
    if i < len(infos) and infos[i].case in CAPITALISED and _surname_like(infos[i]):
        return i
    return last
