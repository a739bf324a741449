"""Work that must follow a transaction's outcome, for services that never commit themselves.

The caller owns the transaction (the request's unit of work in ``auth/deps.py``, ``db.unit_of_work`` for the
CLI), so a service cannot act "after my commit" in line. It registers the work here instead: a cache to drop
once the change is visible to others (``after_commit``), or a file to delete when the rows that point at it
are never stored (``unless_committed``). Savepoints do not count: the outermost transaction decides.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_KEY = "liandong.transaction.hooks"


def after_commit(session: Session, work: Callable[[], None]) -> None:
    """Run ``work`` once the session's current transaction has committed (not at all if it does not)."""
    _hooks(session)["commit"].append(work)


def unless_committed(session: Session, work: Callable[[], None]) -> None:
    """Run ``work`` when the session's current transaction ends without a commit (rollback, failed commit,
    or a close with the transaction still open)."""
    _hooks(session)["abandon"].append(work)


def _hooks(session: Session) -> dict[str, list[Callable[[], None]]]:
    hooks = session.info.get(_KEY)
    if hooks is None:
        hooks = session.info[_KEY] = {"commit": [], "abandon": []}
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_transaction_end", _ended)
    return hooks


def _committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the outer transaction may still roll back
        return
    hooks = session.info[_KEY]
    hooks["abandon"].clear()
    work, hooks["commit"] = hooks["commit"], []
    for run in work:
        run()


def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    hooks = session.info[_KEY]
    hooks["commit"].clear()
    work, hooks["abandon"] = hooks["abandon"], []  # empty after a commit
    for run in work:
        run()
