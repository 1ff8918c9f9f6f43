"""Names by the place a chat transcript gives them: the speaker of a line.

Why: chat exports, IRC and meeting logs put a name at the head of a line with nothing around it
but a time and a colon ("[12:47 am] ralph: omw", "12:52 <Manuel> ok", "Ellen 6:48 PM: rolling
back"). The tagger reads two words either side of a token and sees no sentence there; the line's
shape says "speaker" plainly. Two strengths of evidence:

- a time stamp before or after the speaker, or IRC's angle brackets: the slot holds a speaker,
  so one to three words of letters count whatever they are, except role words ("System", "Bot",
  "User") and stop words;
- an @mention ("cc @Matteo"): the handle counts when it is a listed name, as below;
- no time stamp ("lucille: r u coming", "shasta — yesterday: ..."): the same shape is also a
  label ("Note: ...", "Nombre: ..."), so it counts only when at least two lines of the text have
  it and every word of the speaker is a given name or surname some list holds and no dictionary
  word.

Speakers found here seed the recurrence pass (name_repeats.py) like any other finding, so
"k bring ástveig's charger" is covered once ástveig has spoken.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rightmodel.privacy.entities import Entity
from rightmodel.privacy.name_scoring import Info

_TS = (r"(?:(?:\d{4}-\d{2}-\d{2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})[ T,]*)?"
       r"(?:\d{1,2}(?::\d{2}){1,2}(?:[ \t]*[APap]\.?[Mm]\.?)?|\d{1,2}[ \t]*[APap]\.?[Mm]\.?)")
_NAME = r"[^\W\d_][\w'’.-]*(?:[ ][^\W\d_][\w'’.-]*){0,2}"
# [12:47 am] ralph: ... / 12/10/2022, 17:24 - Martin: ... / 12:52 <Manuel> ... / [9pm] james k pullus: ...
_BEFORE = re.compile(
    rf"^[ \t]*(?:\[[ \t]*{_TS}[ \t]*\]|\([ \t]*{_TS}[ \t]*\)|{_TS}(?!\w))[ \t]*[-–—,]?[ \t]*"
    rf"(?:<@?(?P<a>{_NAME})>|@?(?P<b>{_NAME})[ \t]*:)(?=[ \t]|$)", re.MULTILINE)
# Ellen 6:48 PM: ... / **Ellen** (06:48): ...
_AFTER = re.compile(rf"^[ \t]*[*_]{{0,2}}@?(?P<n>{_NAME})[*_]{{0,2}}[ \t]+(?:\[{_TS}\]|\({_TS}\)|{_TS})[ \t]*:", re.MULTILINE)
# <Susan> Albino does ...
_IRC = re.compile(rf"^[ \t]*<@?(?P<n>{_NAME})>[ \t]", re.MULTILINE)
# lucille: r u coming / shasta — yesterday: code review
_BARE = re.compile(rf"^[ \t]*(?P<n>{_NAME})(?:[ \t]*:|[ \t]+[–—-])[ \t]+\S", re.MULTILINE)

# @Matteo, DM from @Khaan (not an e-mail, a decorator or @here): a handle that is a listed name.
_MENTION = re.compile(r"(?<![\w@.])@(?P<n>[^\W\d_][\w'’-]{1,30})(?![\w@])(?!\.\w)")

_ROLES = frozenset(
    "user users assistant system bot admin administrator moderator mod host support agent customer client server operator "
    "everyone all team me you human ai model note info warning error debug notice ci cron daemon service monitor alert alerts "
    "build deploy release webhook integration app warn err crit fatal trace "
    # components a log line names where a chat line names its speaker
    "auth kernel sshd systemd crond nginx apache httpd postgres postgresql mysql redis docker kubelet api web worker "
    "scheduler db http https proxy gateway router network dns dhcp smtp ssh sudo login main root default "
    "here channel".split())
SCORE = 0.85


def find_speakers(text: str, describe: Callable[[str], Info]) -> list[Entity]:
    """PERSON spans of chat speakers (see the module docstring)."""
    if not any(c in text for c in ":>—-@"):
        return []
    found: list[Entity] = []
    for pattern, groups in ((_BEFORE, ("a", "b")), (_AFTER, ("n",)), (_IRC, ("n",))):
        for m in pattern.finditer(text):
            g = next(g for g in groups if m.group(g) is not None)
            if _speaker(m.group(g), describe):
                found.append(Entity(m.start(g), m.end(g), "PERSON", SCORE, "speaker"))
    if "@" in text:
        found.extend(Entity(m.start("n"), m.end("n"), "PERSON", SCORE, "speaker") for m in _MENTION.finditer(text)
                     if _listed_name(m.group("n"), describe))
    bare = [(m.start("n"), m.end("n")) for m in _BARE.finditer(text) if _listed_name(m.group("n"), describe)]
    if len(bare) >= 2:
        found.extend(Entity(a, b, "PERSON", SCORE, "speaker") for a, b in bare)
    return found


def _speaker(name: str, describe: Callable[[str], Info]) -> bool:
    words = name.rstrip(".").split()
    parts = [p for w in words for p in re.split(r"[-_.]", w.lower()) if p]
    if not words or any(p in _ROLES or p.endswith("bot") for p in parts):
        return False  # "deploy-bot", "dependabot", "build-server"
    infos = [describe(w) for w in words]
    return not any("s" in i.flags for i in infos) and any(len(w.rstrip(".")) > 1 for w in words)


def _listed_name(name: str, describe: Callable[[str], Info]) -> bool:
    words = name.split()
    if not _speaker(name, describe):
        return False
    infos = [describe(w) for w in words]
    return all(len(i.gaz) == 4 and i.gaz[:2] != "00" and i.gaz[3] != "d" for i in infos if i.case != "I")
