"""Masking of personal data (phone numbers, ID numbers, names) for roles that do not need them, and the one rule
for reading it in clear: only the roles that call people back, and every such read audited."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from sqlalchemy.orm import Session

from liandong import audit
from liandong.errors import Reason


class Reader(Protocol):
    """Who reads: ``auth.identity.Identity`` fits (this module sits below auth)."""

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def user_id(self) -> int | None: ...

    @property
    def name(self) -> str: ...


def reads_unmasked(session: Session, caller: Reader, roles: Collection[str], target: str, fields: Iterable[str],
                   *, has_data: bool) -> bool:
    """Whether ``caller`` reads the personal data of ``target`` (``case:7``, ``hazard:3``…) in clear: one of
    ``roles`` (those that call the people back). A clear read of data that is there is audited as
    ``personal_data_read`` with the fields, in the caller's transaction."""
    unmasked = not caller.roles.isdisjoint(roles)
    if unmasked and has_data:
        audit.record(session, "personal_data_read", actor_id=caller.user_id, actor_name=caller.name, target=target,
                     detail={"fields": list(fields)})
    return unmasked


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
