"""The plan library's endpoints (thin router): the current plans, one plan with its versions, and checking a plan
file before it is put in the library (the loader's own rules, nothing stored)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session
from liandong.emergency import present
from liandong.emergency.plans import library, loader
from liandong.errors import BadRequest

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])


@router.get("", summary="The contingency plans (预案), each in its current version")
def list_plans(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return [present.plan_brief(p) for p in library.current(session)]


@router.post("/validate", summary="Check a plan file (YAML in the body): `{ok, plan}`, or 400 naming file, line "
                                  "and field of every problem; nothing is stored")
def validate(text: Annotated[str, Body(media_type="application/yaml", description="the plan file, UTF-8 YAML")],
             name: str = Query("plan.yaml", max_length=100, pattern=r"^[^/\\\x00-\x1f]+$",
                               description="the file's name, as the problems name it"),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    try:
        doc = loader.read_text(text, name)
    except loader.PlanInvalid as exc:
        raise BadRequest(exc.message, exc.details, code="invalid_plan", params={"file": name, "n": len(exc.problems)},
                         extra={"ok": False, "problems": [
                             {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                             for p in exc.problems]}) from None
    library.ensure(session)  # the library as every reader sees it, to say which versions of this plan are loaded
    return {"ok": True, "plan": doc.stored(), "content_hash": doc.content_hash(),
            "loaded_versions": [v.version for v in library.versions(session, doc.code)]}


@router.get("/{code}", summary="One plan: its document (levels, conditions, tasks, notices, resources) and versions")
def get_plan(code: Annotated[str, Path(max_length=40)],
             version: str | None = Query(None, max_length=32, description="a loaded version; default: the current"),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    plan = library.get(session, code, version)
    return present.plan_dict(plan, library.versions(session, code))
