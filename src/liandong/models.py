"""Every table, imported in one place so Alembic and tests see the whole schema."""

from liandong.areas.models import Area, AreaMember, GridAssignment, Layer, LayerZone, Meta
from liandong.assessment.models import MonthBuilt, MonthFigure, MonthTimes
from liandong.auth.models import AuditEntry, AuthToken, User, UserRole
from liandong.cases.models import (
    Attachment,
    CalendarDay,
    CalendarYear,
    Case,
    CaseEvent,
    CaseUnit,
    DuplicatePair,
    Extension,
    Notification,
)
from liandong.catalogue.models import Matter, TimeLimit
from liandong.components.models import Component
from liandong.db import Base
from liandong.emergency.cap.models import IssuedWarning, ReceivedWarning
from liandong.emergency.models import (
    Incident,
    IncidentArea,
    IncidentCase,
    IncidentEvent,
    IncidentLink,
    Plan,
    PlanActivation,
    Task,
)
from liandong.intake.open311.models import ApiKey
from liandong.intake.sensors.models import SensorDevice
from liandong.intake.video.models import VideoSource
from liandong.ops.replica import ReadMark
from liandong.screening.campaign_models import Campaign, CampaignTeam, CampaignVisit
from liandong.screening.dispute_models import Dispute, DisputeEvent
from liandong.screening.early_warning_models import EarlyWarning, EarlyWarningEvent, EarlyWarningScan
from liandong.screening.hazard_models import Hazard, HazardEvent
from liandong.sim.models import SimRun
from liandong.units.models import TeamMember, Unit

metadata = Base.metadata

__all__ = [
    "ApiKey", "Area", "AreaMember", "Attachment", "AuditEntry", "AuthToken", "CalendarDay", "CalendarYear", "Case",
    "CaseEvent", "CaseUnit", "Component", "DuplicatePair", "EarlyWarning", "Extension", "GridAssignment", "Incident",
    "IncidentArea", "IncidentCase", "IncidentEvent", "IncidentLink", "IssuedWarning", "Layer", "LayerZone",
    "Matter", "Meta", "Notification", "Plan", "PlanActivation", "ReceivedWarning", "SensorDevice", "Task",
    "TeamMember", "TimeLimit",
    "Unit", "User", "UserRole",
    "VideoSource", "metadata",
    "Dispute", "DisputeEvent", "Hazard", "HazardEvent",
    "Campaign", "CampaignTeam", "CampaignVisit",
    "EarlyWarningEvent", "EarlyWarningScan", "SimRun", "ReadMark", "MonthBuilt", "MonthFigure", "MonthTimes",
]
