"""The people of a simulated year: accounts for the centre's desks (receptionists, shift leaders, dispatchers) and
each town's grid inspectors, made through the account service without a password (nobody signs in as them) and
reused by a rerun, so every event names a person and the assessment has people to rank. Handlers act for the lead
unit a case was dispatched to; the channels (12345, sensors, cameras, citizens, Open311 apps) report as they do live."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.auth import service as accounts
from liandong.auth.identity import Identity
from liandong.auth.models import User
from liandong.errors import Invalid
from liandong.intake.citizen import CITIZEN
from liandong.intake.hotline import HOTLINE
from liandong.intake.sensors.service import SENSOR
from liandong.screening.dispute_models import Dispute
from liandong.screening.hazard_models import Hazard
from liandong.sim.scenario import Staff
from liandong.units.models import Unit

DESKS = ("receptionist", "shift_leader", "dispatcher")
CHANNEL_ACTORS = {"hotline": HOTLINE, "citizen_web": CITIZEN, "sensor": SENSOR,
                  "video": Identity(roles=frozenset({"receptionist"}), username="video:sim"),
                  "open311": Identity(roles=frozenset({"receptionist"}), username="open311:sim")}
"""Who reports for each channel without a person of ours behind it (grid workers report as their inspector, the
departments' transfers and leaders' instructions through a receptionist)."""


@dataclasses.dataclass(frozen=True)
class Roster:
    desks: dict[str, list[Identity]]
    inspectors: dict[int, list[Identity]]
    """Each town's (area id) inspectors."""
    town_of_grid: dict[int, int]
    commander: Identity
    """The centre's incident commander (指挥长)."""

    def desk(self, role: str, k: int) -> Identity:
        people = self.desks[role]
        return people[k % len(people)]

    def inspector(self, grid_id: int, k: int = 0) -> Identity:
        """The grid's inspector: each town's grids shared out among its inspectors."""
        people = self.inspectors[self.town_of_grid[grid_id]]
        return people[(grid_id + k) % len(people)]

    def reporter(self, channel: str, grid_id: int, k: int) -> Identity:
        if channel == "grid_worker":
            return self.inspector(grid_id)
        return CHANNEL_ACTORS.get(channel) or self.desk("receptionist", k)

    def people(self) -> list[Identity]:
        """Every account of the run."""
        return [self.commander, *(p for group in (*self.desks.values(), *self.inspectors.values()) for p in group)]

    def made(self, session: Session, model: type[Hazard] | type[Dispute], n: int) -> dict[int, int]:
        """The first ``n`` rows of a register (hazards, disputes) the run's people registered, in order: what an
        earlier run of the same plan made (ordinal → id)."""
        people = [p.user_id for p in self.people()]
        ids = session.scalars(select(model.id).where(model.created_by.in_(people)).order_by(model.id).limit(n))
        return dict(enumerate(ids))

    def handler(self, unit_id: int) -> Identity:
        return Identity(roles=frozenset({"handler"}), unit_id=unit_id, username=f"sim.handler.{unit_id}",
                        assigned_only=True)


def _account(session: Session, username: str, unit_code: str, role: str) -> Identity:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = accounts.create_user(session, username=username, password=None,
                                    unit_code=unit_code, roles=[role], display_name=username)
    return accounts.identity_of(session, user)


def enlist(session: Session, staff: Staff, index: GridIndex) -> Roster:
    """The run's people, made the first time and found again by a rerun."""
    centre = session.scalar(select(Unit.code).where(Unit.kind == "centre").order_by(Unit.id).limit(1))
    if centre is None:
        raise Invalid("the district has no command centre unit: load the district first", code="no_district")
    counts = {"receptionist": staff.receptionists, "shift_leader": staff.shift_leaders,
              "dispatcher": staff.dispatchers}
    desks = {role: [_account(session, f"sim.{role}.{i + 1:02d}", centre, role) for i in range(counts[role])]
             for role in DESKS}
    towns = session.execute(select(Area.id, Area.code, Unit.code).join(Unit, Unit.area_id == Area.id)
                            .where(Area.level == "town", Unit.kind == "sub_centre").order_by(Area.code)).all()
    inspectors = {town_id: [_account(session, f"sim.inspector.{code}.{i + 1:02d}", unit, "inspector")
                            for i in range(staff.inspectors_per_town)] for town_id, code, unit in towns}
    town_of_grid = {h.id: h.ancestor_ids[1] for h in index.hits if len(h.ancestor_ids) > 1}
    return Roster(desks, inspectors, town_of_grid, _account(session, "sim.commander.01", centre, "commander"))
