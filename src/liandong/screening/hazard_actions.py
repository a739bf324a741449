"""Acting on a hazard: one table of actions and the one path every action takes through it (the shape of
``emergency/actions.py``): visibility → version → table → roles → payload → guard/effect → event. ``allowed_for``
asks the same ``refusal`` of every action. Refusals carry codes: ``not_allowed_in_state`` (with the
``allowed_actions``), ``role_needed``, ``stale``, ``missing_field``, ``invalid_field``, ``five_missing`` (a major
hazard filed without its 五落实), ``reward_not_wanted``, ``reward_decided``, ``no_reward``, ``reward_paid``,
``case_exists``.

A hazard another department must handle becomes a case through ``cases.intake.open_case`` (``to_case``): the
hazard records the case and the case's own log records the hazard (a ``from_hazard`` event that leaves its state
alone), so each side's history names the other. The service never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from liandong import audit
from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import escalation
from liandong.cases import intake as case_intake
from liandong.cases.payloads import Payload, parse, required
from liandong.db import utcnow
from liandong.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Stale
from liandong.screening import hazard_states as hs
from liandong.screening import hazards
from liandong.screening.hazard_models import Hazard, HazardEvent
from liandong.screening.hazard_payloads import Close, File, Rectify, Reject, Reward, ToCase


@dataclass
class Doing:
    action: str
    session: Session
    hazard: Hazard
    caller: Identity
    payload: Payload
    now: dt.datetime
    index: GridIndex | None = None


Effect = Callable[[Doing], dict | None]
Guard = Callable[[Hazard], DomainError | None]


@dataclass(frozen=True)
class Action:
    name: str
    moves: Mapping[str, str | None]
    """The states the action may be taken in → where it leads (None: it stays)."""
    roles: frozenset[str]
    payload: type[Payload] = Payload
    effect: Effect | None = None
    guard: Guard | None = None
    """A condition on the hazard beyond its state (a reward decided once…), asked by ``allowed_for`` too."""


def _file(d: Doing) -> dict:
    body = d.payload
    assert isinstance(body, File)
    h = d.hazard
    if body.responsible_unit_id is not None:
        h.responsible_unit_id = hazards.check_unit(d.session, body.responsible_unit_id)
    for name in hs.FIVE:
        if (value := getattr(body, name)) is not None:
            setattr(h, name, value)
    grade = body.grade or h.grade
    if grade == "major" and (missing := hazards.missing_five({f: getattr(h, f) for f in hs.FIVE})):
        raise Invalid(f"a major hazard is filed with its 五落实: missing {', '.join(missing)}", code="five_missing",
                      params={"action": "file", "fields": missing})
    record = {"was": {"grade": h.grade}} if grade != h.grade else {}
    h.grade = grade
    if h.deadline is not None:
        record["deadline"] = h.deadline.isoformat()
    return record


def _close(d: Doing) -> None:
    d.hazard.closed_at = d.now


def _reward(d: Doing) -> dict:
    assert isinstance(d.payload, Reward)
    d.hazard.reward_amount, d.hazard.reward_by = d.payload.amount, d.caller.user_id
    audit.record(d.session, "hazard_reward_decided", actor_id=d.caller.user_id, actor_name=d.caller.name,
                 target=f"hazard:{d.hazard.id}", detail={"number": d.hazard.number, "amount": d.payload.amount})
    return {"approver": d.caller.name}


def _pay(d: Doing) -> dict:
    d.hazard.reward_paid = True
    audit.record(d.session, "hazard_reward_paid", actor_id=d.caller.user_id, actor_name=d.caller.name,
                 target=f"hazard:{d.hazard.id}", detail={"number": d.hazard.number,
                                                         "amount": d.hazard.reward_amount})
    return {"amount": d.hazard.reward_amount}


def _to_case(d: Doing) -> dict:
    body = d.payload
    assert isinstance(body, ToCase)
    h = d.hazard
    index = d.index or GridIndex.build(d.session)
    opened = case_intake.open_case(d.session, index, d.caller, matter_code=body.matter_code,
                                   description=(body.description or f"{h.title}（安全隐患 {h.number}）")[:2000],
                                   lon=h.lon, lat=h.lat, channel="department_transfer", urgency=body.urgency,
                                   now=d.now, duplicates=False)
    case = opened.case
    h.case_id = case.id
    escalation.from_hazard(d.session, case, d.caller, h.id, h.number, d.now)
    return {"case_id": case.id, "case_number": case.number}


def _reward_open(h: Hazard) -> DomainError | None:
    if not h.reward_wanted:
        return Conflict("the reporter of this hazard asked for no reward", code="reward_not_wanted")
    if h.reward_amount is not None:
        return Conflict(f"a reward of {h.reward_amount} was decided already", code="reward_decided")
    return None


def _reward_unpaid(h: Hazard) -> DomainError | None:
    if h.reward_amount is None:
        return Conflict("no reward was decided", code="no_reward")
    if h.reward_paid:
        return Conflict("the reward was paid already", code="reward_paid")
    return None


def _no_case(h: Hazard) -> DomainError | None:
    return Conflict("the hazard is a case already", code="case_exists") if h.case_id is not None else None


REWARDABLE = dict.fromkeys(("filed", "rectifying", "closed"))
TABLE: dict[str, Action] = {a.name: a for a in (
    Action("file", {"found": "filed"}, hs.FILE_ROLES, File, _file),
    Action("reject", {"found": "rejected"}, hs.FILE_ROLES, Reject),
    Action("rectify", {"filed": "rectifying", "rectifying": None}, hs.RECTIFY_ROLES, Rectify),
    Action("close", {"rectifying": "closed"}, hs.ACCEPT_ROLES, Close, _close),
    Action("reward", REWARDABLE, hs.REWARD_ROLES, Reward, _reward, _reward_open),
    Action("pay_reward", REWARDABLE, hs.REWARD_ROLES, Payload, _pay, _reward_unpaid),
    Action("to_case", {"filed": None, "rectifying": None}, hs.CASE_ROLES, ToCase, _to_case, _no_case),
)}
NAMES = tuple(sorted(TABLE))
NEEDS = {name: fields for name, a in TABLE.items() if (fields := required(a.payload))}


def refusal(action: Action, hazard: Hazard, caller: Identity) -> DomainError | None:
    if hazard.state not in action.moves:
        return Conflict(f"action {action.name!r} is not allowed in state {hazard.state!r}",
                        code="not_allowed_in_state", params={"action": action.name, "state": hazard.state})
    if action.roles.isdisjoint(caller.roles):
        return Forbidden(f"{action.name!r} needs one of the roles: {', '.join(sorted(action.roles))}",
                         code="role_needed", params={"action": action.name, "roles": sorted(action.roles)})
    if action.guard is not None and (why := action.guard(hazard)) is not None:
        why.params = {"action": action.name, **(why.params or {})}
        return why
    return None


def allowed_for(hazard: Hazard, caller: Identity) -> list[str]:
    return [name for name in NAMES if refusal(TABLE[name], hazard, caller) is None]


def act(session: Session, hazard_id: int, name: str, caller: Identity, payload: dict | None = None,
        now: dt.datetime | None = None, index: GridIndex | None = None) -> Hazard:
    action = TABLE.get(name)
    if action is None:
        raise NotFound(f"unknown action {name!r}; actions are {', '.join(NAMES)}", code="unknown_action",
                       params={"action": name})
    try:
        return _act(session, hazard_id, action, caller, dict(payload or {}), now or utcnow(), index)
    except StaleDataError:
        session.rollback()
        raise _stale(session.get(Hazard, hazard_id), caller) from None


def _act(session: Session, hazard_id: int, action: Action, caller: Identity, data: dict, now: dt.datetime,
         index: GridIndex | None) -> Hazard:
    hazard = hazards.get(session, hazard_id, caller)
    expected = data.get("version")
    if type(expected) is int and expected != hazard.version:
        raise _stale(hazard, caller)
    refused = refusal(action, hazard, caller)
    if refused is not None:
        refused.extra = {"allowed_actions": allowed_for(hazard, caller), "state": hazard.state, **refused.extra}
        raise refused
    body = parse(action.name, action.payload, data)
    from_state = hazard.state
    flag_modified(hazard, "updated_at")  # claim the version first: of two concurrent actions one gets 409 stale
    session.flush()
    record = body.record()
    if action.effect is not None:
        record.update(action.effect(Doing(action.name, session, hazard, caller, body, now, index)) or {})
    hazard.state, hazard.updated_at = action.moves[from_state] or from_state, now
    hazards.append(session, HazardEvent, hazard, "hazard_id", caller, action.name, from_state,
                   _plain(record), now)
    return hazard


def _plain(record: dict) -> dict:
    """JSON-ready: dates as ISO text."""
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in record.items()}


def _stale(hazard: Hazard | None, caller: Identity) -> Stale:
    return Stale("the hazard was changed by someone else meanwhile; reload it and try again",
                 extra={"allowed_actions": allowed_for(hazard, caller) if hazard else [],
                        "state": hazard.state if hazard else None, "stale": True})
