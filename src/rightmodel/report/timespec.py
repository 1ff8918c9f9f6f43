"""Report window bounds: an ISO 8601 time or date, or a duration back from now (``7d``, ``24h``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from rightmodel.errors import ConfigError

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

HELP = ("ISO 8601 time or date (UTC when no offset is given, e.g. 2026-11-01 or 2026-11-01T12:00+01:00), "
        "or a duration back from now: 30m, 24h, 7d, 2w")


def parse_time(value: str, now: datetime, option: str) -> datetime:
    """An aware UTC datetime for ``value``; ConfigError naming ``option`` when it is neither form."""
    m = _RELATIVE.match(value)
    if m:
        try:
            return now - timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
        except OverflowError:
            raise ConfigError(f"{option} {value!r}: that is too far back") from None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a time: use {HELP}") from None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
