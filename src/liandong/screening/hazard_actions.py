"""Acting on a hazard: its table of actions (states, roles, payload, guard, effect), run by the screening
registers' one path (``register_table.py``: visibility → version → table → roles → guard → payload → effect →
event; ``allowed_for`` asks the same ``refusal`` of every action). Refusals carry codes: ``not_allowed_in_state``
(with the ``allowed_actions``), ``role_needed``, ``stale``, ``missing_field``, ``invalid_field``, ``five_missing``
(a major hazard filed without its 五落实), ``reward_not_wanted``, ``reward_decided``, ``no_reward``, ``reward_paid``,
``second_person_needed`` (a reward's approver recording it paid), ``case_exists``.

A hazard another department must handle becomes a case through ``cases.intake.open_case`` (``to_case``): the
hazard records the case and the case's own log records the hazard (a ``from_hazard`` event that leaves its state
alone), so each side's history names the other. The service never commits.
"""

from __future__ import annotations

from liandong import audit
from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import escalation
from liandong.cases import intake as case_intake
from liandong.cases.payloads import Payload
from liandong.errors import Conflict, DomainError, Forbidden, Invalid
from liandong.screening import hazard_states as hs
from liandong.screening import hazards, register_table
from liandong.screening.hazard_models import Hazard
from liandong.screening.hazard_payloads import Close, File, Rectify, Reject, Reward, ToCase

Doing = register_table.Doing[Hazard]
Action = register_table.Action[Hazard]


def _file(d: Doing) -> dict:
    body = d.payload
    assert isinstance(body, File)
    h = d.row
    was: dict = {}
    if body.responsible_unit_id is not None and body.responsible_unit_id != h.responsible_unit_id:
        was["responsible_unit_id"] = h.responsible_unit_id
        h.responsible_unit_id = hazards.check_unit(d.session, body.responsible_unit_id, d.caller)
    for name in hs.FIVE:
        if (value := getattr(body, name)) is not None:
            setattr(h, name, value)
    grade = body.grade or h.grade
    if grade == "major" and (missing := hazards.missing_five({f: getattr(h, f) for f in hs.FIVE})):
        raise Invalid(f"a major hazard is filed with its 五落实: missing {', '.join(missing)}", code="five_missing",
                      params={"action": "file", "fields": missing})
    if grade != h.grade:
        was["grade"] = h.grade
    record = {"was": was} if was else {}
    h.grade = grade
    if h.deadline is not None:
        record["deadline"] = h.deadline.isoformat()
    return record


def _close(d: Doing) -> None:
    d.row.closed_at = d.now


def _reward(d: Doing) -> dict:
    assert isinstance(d.payload, Reward)
    d.row.reward_amount, d.row.reward_by = d.payload.amount, d.caller.user_id
    audit.record(d.session, "hazard_reward_decided", actor_id=d.caller.user_id, actor_name=d.caller.name,
                 target=f"hazard:{d.row.id}", detail={"number": d.row.number, "amount": d.payload.amount})
    return {"approver": d.caller.name}


def _pay(d: Doing) -> dict:
    d.row.reward_paid = True
    audit.record(d.session, "hazard_reward_paid", actor_id=d.caller.user_id, actor_name=d.caller.name,
                 target=f"hazard:{d.row.id}", detail={"number": d.row.number,
                                                         "amount": d.row.reward_amount})
    return {"amount": d.row.reward_amount}


def _to_case(d: Doing) -> dict:
    body = d.payload
    assert isinstance(body, ToCase)
    h = d.row
    index = d.index or GridIndex.build(d.session)
    opened = case_intake.open_case(d.session, index, d.caller, matter_code=body.matter_code,
                                   description=(body.description or f"{h.title}（安全隐患 {h.number}）")[:2000],
                                   lon=h.lon, lat=h.lat, channel="department_transfer", urgency=body.urgency,
                                   now=d.now, duplicates=False)
    case = opened.case
    h.case_id = case.id
    escalation.from_hazard(d.session, case, d.caller, h.id, h.number, d.now)
    return {"case_id": case.id, "case_number": case.number}


def _reward_open(h: Hazard, caller: Identity) -> DomainError | None:
    if not h.reward_wanted:
        return Conflict("the reporter of this hazard asked for no reward", code="reward_not_wanted")
    if h.reward_amount is not None:
        return Conflict(f"a reward of {h.reward_amount} was decided already", code="reward_decided")
    return None


def _reward_unpaid(h: Hazard, caller: Identity) -> DomainError | None:
    """Paid once, and by a second person: whoever approved the amount does not also record it paid (四眼原则); both
    must be named users, so an unnamed caller (a script) can neither approve nor pay a reward that is paid out."""
    if h.reward_amount is None:
        return Conflict("no reward was decided", code="no_reward")
    if h.reward_paid:
        return Conflict("the reward was paid already", code="reward_paid")
    if h.reward_by is None or caller.user_id is None or h.reward_by == caller.user_id:
        return Forbidden("a reward is recorded paid by a named person other than its approver",
                         code="second_person_needed")
    return None


def _no_case(h: Hazard, caller: Identity) -> DomainError | None:
    return Conflict("the hazard is a case already", code="case_exists") if h.case_id is not None else None


REWARDABLE = dict.fromkeys(("filed", "rectifying", "closed"))
REGISTER = register_table.Register(hazards.SPEC, (
    Action("file", {"found": "filed"}, hs.FILE_ROLES, File, _file),
    Action("reject", {"found": "rejected"}, hs.FILE_ROLES, Reject),
    Action("rectify", {"filed": "rectifying", "rectifying": None}, hs.RECTIFY_ROLES, Rectify),
    Action("close", {"rectifying": "closed"}, hs.ACCEPT_ROLES, Close, _close),
    Action("reward", REWARDABLE, hs.REWARD_ROLES, Reward, _reward, _reward_open),
    Action("pay_reward", REWARDABLE, hs.REWARD_ROLES, Payload, _pay, _reward_unpaid),
    Action("to_case", {"filed": None, "rectifying": None}, hs.CASE_ROLES, ToCase, _to_case, _no_case),
), hazards.get, hazards.sees)
TABLE, NAMES, NEEDS = REGISTER.table, REGISTER.names, REGISTER.needs
refusal, allowed_for, act = REGISTER.refusal, REGISTER.allowed_for, REGISTER.act
