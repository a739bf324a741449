"""The plan library: plan files → the ``plans`` table, one row per (code, version), and reading it back.

**When plans are loaded: lazily.** Whatever reads plans (the plan list, an activation, the plans proposed for an
incident) calls ``ensure`` first: the library directory (``LIANDONG_PLANS_DIR``; by default the ``library/``
folder shipped beside this module) is read — parsed once per process while its files stay unchanged — and
every version not yet in the table is inserted, in the caller's transaction. So the demo, the tests, a fresh
``liandong migrate`` and a running app all have the library without an extra step or an order of commands to
remember, and an edited file is picked up without a restart. ``liandong plans load [DIR]`` does the same on
demand (also for another directory), and refuses the whole load when any file is bad. Loading reads the
directory and one small query; it writes only when a file brought a version the table lacks.

**Versions never change.** A row is (code, version, content hash, the validated document as JSON, source file,
loaded_at); an activation names the row it used. A file giving a loaded code and version with other content is
refused (lazily: left out and logged; by ``plans load``: an error) — a changed plan needs a new version. The
content hash is taken of the validated document, so comments and layout do not count as changes. The current
version of a plan is its highest (``document.version_key``), whatever order the files were loaded in.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from liandong.config import get_settings
from liandong.db import utcnow
from liandong.emergency.models import Plan
from liandong.emergency.plans.document import PlanDocument, version_key
from liandong.emergency.plans.loader import Problem, read_dir
from liandong.errors import NotFound

PACKAGED = Path(__file__).parent / "library"
log = logging.getLogger("liandong.plans")
_parsed: dict[str, tuple[tuple, list[tuple[PlanDocument, str]], list[Problem]]] = {}
_documents: dict[str, PlanDocument] = {}
_logged: set[str] = set()


def library_dir() -> Path:
    configured = get_settings().plans_dir
    return Path(configured) if configured else PACKAGED


def read(directory: Path) -> tuple[list[tuple[PlanDocument, str]], list[Problem]]:
    """The plans of a directory and the problems of the files refused, parsed again only when a file changed."""
    try:
        files = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        return [], [Problem(str(directory), None, "", f"cannot be read: {exc}")]
    fingerprint = tuple((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in files if e.is_file())
    cached = _parsed.get(str(directory))
    if cached is None or cached[0] != fingerprint:
        docs, problems = read_dir(directory)
        cached = _parsed[str(directory)] = (fingerprint, docs, problems)
    return cached[1], cached[2]


def sync(session: Session, docs: list[tuple[PlanDocument, str]], now: dt.datetime | None = None) -> dict:
    """Insert the versions the table lacks. Returns what was ``loaded``, what was there ``already`` and what was
    ``refused`` (a loaded version with other content). Two processes loading the same version at once: the
    second finds the first's row (its insert fails in a savepoint and is dropped)."""
    known = {(code, version): digest for code, version, digest in
             session.execute(select(Plan.code, Plan.version, Plan.content_hash))}
    out: dict[str, list[str]] = {"loaded": [], "already": [], "refused": []}
    for doc, source in docs:
        key, digest = (doc.code, doc.version_text), doc.content_hash()
        if key in known:
            if known[key] == digest:
                out["already"].append(f"{doc.code}@{doc.version_text}")
            else:
                out["refused"].append(f"{source}: version {doc.version_text} of {doc.code} is loaded already with "
                                      "other content: give the changed plan a new version")
            continue
        try:
            with session.begin_nested():
                session.add(Plan(code=doc.code, version=doc.version_text, content_hash=digest,
                                 document=doc.stored(), source=source, loaded_at=now or utcnow()))
                session.flush()
        except IntegrityError:  # loaded at this very moment by another process
            out["already"].append(f"{doc.code}@{doc.version_text}")
            continue
        out["loaded"].append(f"{doc.code}@{doc.version_text}")
    return out


def ensure(session: Session) -> None:
    """The library directory's plans are in the table (see the module's docstring); a file left out is logged
    (once per process)."""
    folder = library_dir()
    docs, problems = read(folder)
    for problem in [*map(str, problems), *sync(session, docs)["refused"]]:
        if problem not in _logged:
            _logged.add(problem)
            log.error("plan library %s: %s", folder, problem)


def _highest(plans) -> dict[str, Plan]:
    out: dict[str, Plan] = {}
    for plan in plans:
        known = out.get(plan.code)
        if known is None or (version_key(plan.version), plan.id) > (version_key(known.version), known.id):
            out[plan.code] = plan
    return out


def current(session: Session) -> list[Plan]:
    """The current (highest) version of every plan, by code."""
    ensure(session)
    return sorted(_highest(session.scalars(select(Plan))).values(), key=lambda p: p.code)


def get(session: Session, code: str, version: str | None = None) -> Plan:
    """A plan's current version, or the version named; 404 ``plan_not_found`` otherwise."""
    ensure(session)
    stmt = select(Plan).where(Plan.code == code)
    if version is not None:
        plan = session.scalar(stmt.where(Plan.version == version).limit(1))
    else:
        plan = _highest(session.scalars(stmt)).get(code)
    if plan is None:
        raise NotFound(f"plan {code!r}{f' version {version}' if version else ''} not found", code="plan_not_found",
                       params={"plan": code, **({"version": version} if version else {})})
    return plan


def versions(session: Session, code: str) -> list[Plan]:
    """Every loaded version of a plan, the first loaded first."""
    return list(session.scalars(select(Plan).where(Plan.code == code).order_by(Plan.id)))


def document(plan: Plan) -> PlanDocument:
    """The plan row's document, validated once per process and content (the hash names the content)."""
    doc = _documents.get(plan.content_hash)
    if doc is None:
        doc = _documents[plan.content_hash] = PlanDocument.model_validate(plan.document)
    return doc
