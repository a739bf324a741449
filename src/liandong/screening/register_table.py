"""The one path every action on a screening register takes (hazards, disputes): visibility → version → table → roles →
guard → payload → effect → event, with the same refusals and codes as the incident's table
(``emergency/actions.py``): ``unknown_action``, ``not_allowed_in_state`` (with ``allowed_actions``), ``role_needed``,
the authority's or a guard's own code, ``missing_field``/``invalid_field``, ``stale``.

Each register gives its rows of ``Action`` (the states an action may be taken in and where each leads, the roles it
needs, its payload model, an optional guard on the row and an effect), its ``Spec`` (``registers.py``), how to
read a row within the caller's sight and the same rule as a predicate on a row in hand, and optionally who holds a
row now (``authority``: a dispute belongs to its tier); ``allowed_for`` asks the same ``refusal`` of every action, so
what a row offers cannot drift from what the service takes. The row carries an optimistic version claimed before any
effect runs: of two concurrent actions one wins, the other is told 409 ``stale``. The batch form
(``register_batch.py``) takes the same path for many actions in one transaction; there every row acted on is claimed
too, but written (and its version checked) at the batch's flush. The service never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases.payloads import Payload, parse, required
from liandong.cases.visibility import Viewer
from liandong.db import utcnow
from liandong.errors import Conflict, DomainError, NotFound, Stale, role_needed
from liandong.screening.registers import Spec, append

if TYPE_CHECKING:
    from liandong.screening.register_batch import Batch

Row = TypeVar("Row")
"""A register's row: ``state``, ``version`` (the mapper's version column) and ``updated_at``."""


@dataclass
class Doing(Generic[Row]):
    """An action under way, as its effect sees it; the effect returns what the event records besides the payload."""

    action: str
    session: Session
    row: Row
    caller: Identity
    payload: Payload
    now: dt.datetime
    index: GridIndex | None = None


@dataclass(frozen=True)
class Action(Generic[Row]):
    """One row of a register's action table."""

    name: str
    moves: Mapping[str, str | None]
    """The states the action may be taken in → the state it leads to (None: it stays)."""
    roles: frozenset[str]
    payload: type[Payload] = Payload
    effect: Callable[[Doing[Row]], dict | None] | None = None
    guard: Callable[[Row, Identity], DomainError | None] | None = None
    """Why the row does not allow the action now, or not from this caller (a reward decided already, paid out by
    its own approver…), read before the payload."""
    authority: bool = True
    """Whether the register's authority rule (who holds the row now, e.g. a dispute's tier) applies."""


class Register(Generic[Row]):
    """A register's action table and the path through it."""

    def __init__(self, spec: Spec, actions: Iterable[Action[Row]], get: Callable[[Session, int, Identity], Row],
                 sees: Callable[[Viewer, Row], bool],
                 authority: Callable[[Row, Identity], DomainError | None] | None = None):
        self.spec = spec
        self.get = get
        """A row the caller may see, read through the SQL form of the visibility rule; 404 otherwise."""
        self.sees = sees
        """The rule's predicate form, for a row in hand (a batch's)."""
        self.authority = authority
        """Why the caller, who may see the row and holds the role, does not hold it now (None: anyone who sees it)."""
        self.table: dict[str, Action[Row]] = {a.name: a for a in actions}
        self.names = tuple(sorted(self.table))
        self.needs = {name: fields for name, a in self.table.items() if (fields := required(a.payload))}
        """Payload fields an action cannot do without, read from the models."""

    def refusal(self, action: Action[Row], row: Row, caller: Identity) -> DomainError | None:
        """Why the caller may not take ``action`` on the row now, or None; the payload aside."""
        state = row.state  # type: ignore[attr-defined]
        if state not in action.moves:
            return Conflict(f"action {action.name!r} is not allowed in state {state!r}",
                            code="not_allowed_in_state", params={"action": action.name, "state": state})
        if action.roles.isdisjoint(caller.roles):
            return role_needed(action.name, action.roles)
        for check in (self.authority if action.authority else None, action.guard):
            if check is not None and (why := check(row, caller)) is not None:
                why.params = {"action": action.name, **(why.params or {})}
                return why
        return None

    def allowed_for(self, row: Row, caller: Identity) -> list[str]:
        """The actions the service would take from the caller on the row now (a valid payload given)."""
        return [name for name in self.names if self.refusal(self.table[name], row, caller) is None]

    def act(self, session: Session, row_id: int, name: str, caller: Identity, payload: dict | None = None,
            now: dt.datetime | None = None, index: GridIndex | None = None, batch: Batch | None = None) -> Row:
        """Take action ``name`` on the row with ``payload`` (checked by the action's model) and append its event;
        with a ``batch`` (``register_batch.py``) the row is the batch's and the event waits for its flush."""
        action = self.table.get(name)
        if action is None:
            raise NotFound(f"unknown action {name!r}; actions are {', '.join(self.names)}", code="unknown_action",
                           params={"action": name})
        doing = (session, row_id, action, caller, dict(payload or {}), now or utcnow(), index, batch)
        if batch is not None:  # a version moved meanwhile fails the batch's flush, or an effect's: the batch's caller
            return self._act(*doing)
        try:
            return self._act(*doing)
        except StaleDataError:  # another transaction moved the version on
            session.rollback()
            raise self._stale(session.get(self.spec.model, row_id), caller) from None

    def _act(self, session: Session, row_id: int, action: Action[Row], caller: Identity, data: dict,
             now: dt.datetime, index: GridIndex | None, batch: Batch | None) -> Row:
        row = self.get(session, row_id, caller) if batch is None else batch.row(self, row_id, caller)
        expected = data.get("version")
        if type(expected) is int and expected != row.version:  # type: ignore[attr-defined]
            raise self._stale(row, caller)
        refused = self.refusal(action, row, caller)
        if refused is not None:
            refused.extra = {"allowed_actions": self.allowed_for(row, caller), "state": row.state,  # type: ignore
                             **refused.extra}
            raise refused
        body = parse(action.name, action.payload, data)
        from_state = row.state  # type: ignore[attr-defined]
        flag_modified(row, "updated_at")  # claim the version, even for an action that changes nothing else
        if batch is None:  # first: of two concurrent actions one gets 409 stale (a batch's rows: at its flush)
            session.flush()
        record = body.record()
        if action.effect is not None:
            record.update(action.effect(Doing(action.name, session, row, caller, body, now, index)) or {})
        row.state, row.updated_at = action.moves[from_state] or from_state, now  # type: ignore[attr-defined]
        if batch is None:
            append(session, self.spec, row, caller, action.name, from_state, _plain(record), now)
        else:
            batch.record(self.spec, row, caller, action.name, from_state, _plain(record), now)
        return row

    def _stale(self, row: Row | None, caller: Identity) -> Stale:
        return Stale(f"the {self.spec.what} was changed by someone else meanwhile; reload it and try again",
                     extra={"allowed_actions": self.allowed_for(row, caller) if row is not None else [],
                            "state": row.state if row is not None else None, "stale": True})  # type: ignore


def _plain(record: dict) -> dict:
    """JSON-ready: dates as ISO text."""
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in record.items()}
