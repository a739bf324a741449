"""Routing proposal: who should handle a case (the matter's line × the grid's responsible units, 多网合一)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.cases.models import Case
from liandong.catalogue import snapshot


def propose(session: Session, index: GridIndex, case: Case) -> dict:
    """Proposed lead (the matter's line × the grid's responsible unit, 多网合一) and territorial unit (块)."""
    matter = snapshot.current(session).by_id[case.matter_id]
    hit = index.by_id.get(case.grid_id)
    units = list(hit.responsible_units) if hit else []
    line_unit = next((u for u in units if u["role"] == "line" and u["line"] == matter.line), None)
    territorial = [u for u in units if u["role"] == "territorial"]
    town = next((u for u in territorial if u["kind"] == "sub_centre"), None)
    return {
        "line": matter.line,
        "proposed_lead": line_unit or town,
        "territorial": town,
        "candidates": units,
    }


