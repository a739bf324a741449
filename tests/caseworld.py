"""A small district with the standard catalogue and a user per role, for case tests (both backends)."""

from sqlalchemy import select

from liandong.areas.index import GridIndex
from liandong.areas.scope import EVERYTHING
from liandong.auth.identity import Identity
from liandong.auth.service import create_user
from liandong.cases import actions, intake
from liandong.catalogue.service import load_standard
from liandong.db import unit_of_work
from liandong.units.models import Unit
from tests.factories import EAST, PASSWORD, WEST, build_small_district

WEST_POINT = (121.305, 31.105)
EAST_POINT = (121.345, 31.11)
MATTER = "06001"  # 私搭乱建 → city-management line
ROLES = ("receptionist", "shift_leader", "dispatcher", "inspector")


def fill(url: str) -> None:
    """The small district, the standard catalogue, a district user per role and two squad handlers."""
    with unit_of_work(url) as s:
        build_small_district(s)
        load_standard(s)
        for role in ROLES:
            if role == "dispatcher":  # made by build_small_district
                continue
            create_user(s, username=role, password=PASSWORD, unit_code="C", roles=[role])
        create_user(s, username="cm_west", password=PASSWORD, unit_code=f"B-cm-{WEST}", roles=["handler"])
        create_user(s, username="cm_east", password=PASSWORD, unit_code=f"B-cm-{EAST}", roles=["handler"])


def unit_id(url, code):
    with unit_of_work(url) as s:
        return s.scalar(select(Unit.id).where(Unit.code == code))


def boss(url, unit_code=f"B-cm-{WEST}"):
    """An actor holding every role, acting for the west city-management squad."""
    every_role = {"receptionist", "shift_leader", "dispatcher", "handler", "inspector"}
    return Identity(roles=frozenset(every_role), unit_id=unit_id(url, unit_code), scope=EVERYTHING)


def new_case(url, point=WEST_POINT, **kw):
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        case, _ = intake.report(s, index, boss(url), matter_code=kw.pop("matter", MATTER),
                                 description=kw.pop("description", "测试：违章搭建"), lon=point[0], lat=point[1],
                                 channel=kw.pop("channel", "hotline"), **kw)
        return case.id


def do(url, case_id, action, actor=None, **payload):
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        case = actions.act(s, index, case_id, action, actor or boss(url), payload)
        return case.state


