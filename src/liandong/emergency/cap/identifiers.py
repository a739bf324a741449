"""Identifiers and times as GB/T 35965.1-2018 writes them (the Chinese CAP profile).

``ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N``, 31 characters: the issuer's administrative code (GB/T 2260), institution
code (GB/T 4657), internal code and extension, then the entry time in Beijing time, then a 0–9 sequence number
for messages of the same issuer in the same second. Times are ``YYYY-MM-DDThh:mm:ss+08:00``: Beijing time
whatever the server's or the district's zone, because the standard says so.
"""

from __future__ import annotations

import datetime as dt
import re

from liandong.config import Settings

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
PATTERN = re.compile(r"^(\d{6})(\d{3})(\d{3})(\d{2})_(\d{14})_(\d)$")
LENGTH = 31


def issuer_code(settings: Settings) -> str:
    """``ZZZZZZDDDUUUXX`` from the settings, checked (a wrong length would break every identifier)."""
    parts = ((settings.cap_admin_code, 6, "cap_admin_code"), (settings.cap_institution_code, 3,
             "cap_institution_code"), (settings.cap_unit_code, 3, "cap_unit_code"),
             (settings.cap_extension_code, 2, "cap_extension_code"))
    for value, size, name in parts:
        if not (len(value) == size and value.isdigit()):
            raise ValueError(f"LIANDONG_{name.upper()} must be {size} digits, not {value!r}")
    return "".join(value for value, _, _ in parts)


def sender(settings: Settings) -> str:
    """CAP ``sender``: the configured one, else the issuer code (it names the issuer in GB/T 35965.1)."""
    return settings.cap_sender or issuer_code(settings)


def second_prefix(settings: Settings, at: dt.datetime) -> str:
    """The identifier without its sequence number: ``ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_``."""
    return f"{issuer_code(settings)}_{at.astimezone(BEIJING):%Y%m%d%H%M%S}_"


def identifier(settings: Settings, at: dt.datetime, n: int) -> str:
    if not 0 <= n <= 9:
        raise ValueError("the sequence number of one second runs 0–9")
    return f"{second_prefix(settings, at)}{n}"


def cap_time(at: dt.datetime) -> str:
    """``2026-06-01T09:00:00+08:00``: the form both CAP's schema and GB/T 35965.1 ask for."""
    return at.astimezone(BEIJING).replace(microsecond=0).isoformat()


def parse_time(text: str) -> dt.datetime:
    """A CAP date-time (an offset is required; CAP's ``-00:00`` counts as UTC), in UTC."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time-zone offset")
    return value.astimezone(dt.UTC)
