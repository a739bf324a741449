"""Masking of personal data (phone numbers, ID numbers, names) for roles that do not need them."""

from __future__ import annotations

from liandong.errors import Reason


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; short numbers keep only their last two digits."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(0, len(digits) - 2) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """``张三丰`` → ``张**``."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_number_problem(value: str) -> Reason | None:
    """Why ``value`` is not a resident ID number (GB 11643-1999: 17 digits and a check character), or None."""
    import datetime as dt
    import re

    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):  # ASCII digits only (str.isdigit takes ² and １)
        return Reason("an ID number has 17 digits and a check digit or X", "id_number_format")
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return Reason("the ID number's date of birth is not a date", "id_number_birth_date")
    if ID_CHECK[sum(int(c) * w for c, w in zip(value[:17], ID_WEIGHTS, strict=True)) % 11] != value[17]:
        return Reason("the ID number's check digit does not match", "id_number_check_digit")
    return None


def mask_id_number(value: str | None) -> str | None:
    """``310112199001011234`` → ``3101**********1234``: region and last four, never the birth date."""
    if not value:
        return value
    return value[:4] + "*" * (len(value) - 8) + value[-4:]
