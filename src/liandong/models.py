"""Every table, imported in one place so Alembic and tests see the whole schema."""

from liandong.areas.models import Area, AreaMember, GridAssignment, Layer, LayerZone, Meta
from liandong.auth.models import AuditEntry, AuthToken, User, UserRole
from liandong.cases.models import Case, CaseEvent, CaseUnit
from liandong.catalogue.models import Matter, TimeLimit
from liandong.db import Base
from liandong.units.models import TeamMember, Unit

metadata = Base.metadata

__all__ = [
    "Area", "AreaMember", "AuditEntry", "AuthToken", "Case", "CaseEvent", "CaseUnit", "GridAssignment", "Layer",
    "LayerZone", "Matter", "Meta", "TimeLimit",
    "TeamMember", "Unit", "User", "UserRole", "metadata",
]
