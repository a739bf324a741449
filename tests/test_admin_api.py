"""What the admin pages call: password reset, unit edits, the area tree with grid counts (both backends)."""

import pytest
from sqlalchemy import select

from liandong.auth import service as auth_service
from liandong.auth.models import AuditEntry
from liandong.auth.passwords import password_problem
from liandong.db import unit_of_work
from liandong.errors import Invalid
from tests.conftest import login, make_client
from tests.factories import DISTRICT, EAST, PASSWORD, WEST, build_small_district

NEW_PASSWORD = "Brand-New-Secret-7"


@pytest.fixture
def world(db_url):
    with unit_of_work(db_url) as s:
        build_small_district(s)
        auth_service.create_user(s, username="west_admin", password=PASSWORD, unit_code=f"S-{WEST}", roles=["admin"])
    return db_url


def last_audit(url, action):
    with unit_of_work(url) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc()))
        return {"actor": entry.actor, "target": entry.target, "detail": entry.detail}


# --- password reset ------------------------------------------------------------------------------

def test_reset_ends_every_session_lifts_a_lock_out_and_is_audited(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    api_token = login(client, "west_handler", PASSWORD)
    page = client.post("/login", data={"username": "west_handler", "password": PASSWORD}, follow_redirects=False)
    cookie = {"Cookie": f"liandong_session={page.cookies['liandong_session']}"}
    assert client.get("/api/v1/me", headers=cookie).status_code == 200
    for _ in range(5):  # locked out by repeated failures
        client.post("/api/v1/auth/token", data={"username": "west_handler", "password": "wrong-password!"})
    assert client.post("/api/v1/auth/token", data={"username": "west_handler", "password": PASSWORD}).status_code == 401

    r = client.put("/api/v1/users/west_handler/password", json={"password": NEW_PASSWORD}, headers=admin)
    assert r.status_code == 204, r.text
    assert client.get("/api/v1/me", headers=api_token).status_code == 401  # the API token ended
    assert client.get("/api/v1/me", headers=cookie).status_code == 401  # and the web session
    assert client.post("/api/v1/auth/token", data={"username": "west_handler", "password": PASSWORD}).status_code == 401
    login(client, "west_handler", NEW_PASSWORD)  # no lock-out left: the new password works at once
    entry = last_audit(world, "password_changed")
    assert entry == {"actor": "admin", "target": "user:west_handler",
                     "detail": {"sessions_ended": 2, "unlocked": True}}
    assert NEW_PASSWORD not in str(entry)


@pytest.mark.parametrize(("password", "reason"), [
    ("short-1", "at least"),
    ("xx-west_handler-xx", "username"),
    ("aaaaaaaaaaaaaa", "too simple"),
    ("Long-enough-\x00-pass", "NUL"),
])
def test_reset_keeps_the_rule_of_create(world, password, reason):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    r = client.put("/api/v1/users/west_handler/password", json={"password": password}, headers=admin)
    assert r.status_code == 422 and reason in r.json()["detail"], r.text
    login(client, "west_handler", PASSWORD)  # unchanged


def test_the_password_rule_itself_refuses_nul(world):
    """Not only the HTTP guard (which refuses NUL in any body): the rule the services apply refuses it too."""
    assert "NUL" in password_problem("Long-enough-\x00-pass", "someone")
    for call in (lambda s: auth_service.set_password(s, "west_handler", "Long-enough-\x00-pass"),
                 lambda s: auth_service.create_user(s, username="nul", password="Long-enough-\x00-pass",
                                                    unit_code="C", roles=["leader"])):
        with pytest.raises(Invalid, match="NUL"), unit_of_work(world) as s:
            call(s)


def test_reset_stays_in_the_admins_jurisdiction(world):
    client = make_client(world)
    town = login(client, "west_admin", PASSWORD)
    disp = login(client, "dispatcher", PASSWORD)
    body = {"password": NEW_PASSWORD}
    assert client.put("/api/v1/users/east_handler/password", json=body, headers=town).status_code == 404
    assert client.put("/api/v1/users/nobody/password", json=body, headers=town).status_code == 404
    assert client.put("/api/v1/users/west_handler/password", json=body, headers=disp).status_code == 403
    assert client.put("/api/v1/users/west_handler/password", json=body, headers=town).status_code == 204
    login(client, "west_handler", NEW_PASSWORD)
    login(client, "east_handler", PASSWORD)


# --- unit edits ----------------------------------------------------------------------------------

def test_edit_a_unit_name_kind_line_and_parent(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    grid = client.get("/api/v1/areas", params={"level": "grid", "parent": f"{WEST}001", "limit": 1},
                      headers=admin).json()["items"][0]["code"]
    r = client.patch(f"/api/v1/units/W-{WEST}001", json={"name": "西一联勤工作站"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() | {"id": 0} == {"id": 0, "code": f"W-{WEST}001", "name": "西一联勤工作站", "kind": "workstation",
                                    "line": None, "area": f"{WEST}001", "parent": f"S-{WEST}"}
    # the grid index sees the new name at once (the change moved the geo revision on)
    names = [u["name"] for u in client.get(f"/api/v1/areas/{grid}/responsibility", headers=admin).json()[
        "responsible_units"]]
    assert "西一联勤工作站" in names
    # a workstation becomes a city-management team under the west squad; then leaves its line again
    r = client.patch(f"/api/v1/units/W-{WEST}001", json={"kind": "team", "line": "city_management",
                                                          "parent_code": f"B-cm-{WEST}"}, headers=admin)
    assert r.status_code == 200 and (r.json()["kind"], r.json()["line"], r.json()["parent"]) == (
        "team", "city_management", f"B-cm-{WEST}")
    assert last_audit(world, "unit_changed") == {"actor": "admin", "target": f"unit:W-{WEST}001", "detail": {
        "before": {"name": "西一联勤工作站", "kind": "workstation", "line": None, "parent": f"S-{WEST}"},
        "after": {"name": "西一联勤工作站", "kind": "team", "line": "city_management", "parent": f"B-cm-{WEST}"}}}
    r = client.patch(f"/api/v1/units/W-{WEST}001", json={"line": None, "parent_code": None}, headers=admin)
    assert (r.json()["line"], r.json()["parent"]) == (None, None)
    assert client.get(f"/api/v1/units/W-{WEST}001", headers=admin).json()["kind"] == "team"


@pytest.mark.parametrize(("body", "reason"), [
    ({"kind": "ministry"}, "unknown unit kind"),
    ({"line": "space"}, "unknown department line"),
    ({"line": None}, "needs a department line"),  # D-cm is a department
    ({"name": ""}, "name"),
    ({"name": None}, "cannot be empty"),
    ({"parent_code": "NOPE"}, "unknown parent"),
    ({"parent_code": "D-cm"}, "cycle"),  # itself
    ({"parent_code": f"B-cm-{WEST}"}, "cycle"),  # one of its own branches
])
def test_bad_unit_edits_are_refused_with_a_reason(world, body, reason):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    r = client.patch("/api/v1/units/D-cm", json=body, headers=admin)
    assert r.status_code == 422 and reason in r.json()["detail"], r.text
    assert client.get("/api/v1/units/D-cm", headers=admin).json()["parent"] == "C"


def test_unit_edits_stay_in_the_admins_jurisdiction(world):
    client = make_client(world)
    town = login(client, "west_admin", PASSWORD)
    disp = login(client, "dispatcher", PASSWORD)
    assert client.patch(f"/api/v1/units/S-{EAST}", json={"name": "x"}, headers=town).status_code == 404
    assert client.patch("/api/v1/units/NOPE", json={"name": "x"}, headers=town).status_code == 404
    assert client.patch(f"/api/v1/units/W-{WEST}001", json={"name": "x"}, headers=disp).status_code == 403
    # a parent outside the town is unknown to its administrator; so is moving a unit hung from outside
    r = client.patch(f"/api/v1/units/W-{WEST}001", json={"parent_code": f"S-{EAST}"}, headers=town)
    assert r.status_code == 422 and "unknown parent" in r.json()["detail"]
    r = client.patch(f"/api/v1/units/S-{WEST}", json={"parent_code": None}, headers=town)
    assert r.status_code == 422 and "outside your jurisdiction" in r.json()["detail"]
    # the form sends the unchanged parent along with a new name: that is no move
    r = client.patch(f"/api/v1/units/S-{WEST}", json={"name": "西镇联动分中心", "parent_code": "C"}, headers=town)
    assert r.status_code == 200 and r.json()["parent"] == "C"
    r = client.patch(f"/api/v1/units/W-{WEST}002", json={"parent_code": f"W-{WEST}001"}, headers=town)
    assert r.status_code == 200 and r.json()["parent"] == f"W-{WEST}001"


# --- the area tree -------------------------------------------------------------------------------

def test_area_children_carry_unit_grid_counts_and_page(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    summary = client.get("/api/v1/areas/summary", headers=admin).json()
    roots = client.get("/api/v1/areas", headers=admin).json()["items"]
    assert [(a["code"], a["grids"]) for a in roots] == [(DISTRICT, summary["grid"])]
    towns = client.get(f"/api/v1/areas/{DISTRICT}/children", headers=admin).json()["items"]
    assert [t["code"] for t in towns] == [WEST, EAST] and sum(t["grids"] for t in towns) == summary["grid"]
    for town in towns:
        communities = client.get(f"/api/v1/areas/{town['code']}/children", headers=admin).json()["items"]
        assert sum(c["grids"] for c in communities) == town["grids"] > 0
        for c in communities:
            assert client.get(f"/api/v1/areas/{c['code']}", headers=admin).json()["children"]["grid"] == c["grids"]
    first = client.get(f"/api/v1/areas/{WEST}/children", headers=admin).json()["items"][0]
    page = client.get(f"/api/v1/areas/{first['code']}/children", params={"limit": 10, "offset": 10},
                      headers=admin).json()
    assert page["total"] == first["grids"] > 20 and len(page["items"]) == 10
    assert page["items"][0]["code"] == f"{first['code']}011" and {g["grids"] for g in page["items"]} == {0}
    west = login(client, "west_admin", PASSWORD)
    assert [a["code"] for a in client.get("/api/v1/areas", headers=west).json()["items"]] == [WEST]
    assert client.get(f"/api/v1/areas/{EAST}/children", headers=west).status_code == 404


def test_every_code_the_admin_pages_show_has_both_labels():
    from liandong.areas.models import LEVELS
    from liandong.auth.models import ROLES
    from liandong.catalogue.models import STAGES, URGENCIES
    from liandong.units.lines import LINES, UNIT_KINDS
    from liandong.web import i18n

    assert set(ROLES) <= set(i18n.ROLE_LABELS) and set(UNIT_KINDS) <= set(i18n.UNIT_KIND_LABELS)
    assert set(LEVELS) <= set(i18n.LEVEL_LABELS) and set(STAGES) <= set(i18n.STAGE_LABELS)
    assert all(f"admin.{u}" in i18n.MESSAGES for u in URGENCIES)
    for table in (i18n.ROLE_LABELS, i18n.UNIT_KIND_LABELS, i18n.LEVEL_LABELS, i18n.STAGE_LABELS, LINES):
        assert all(zh and en and zh != en for zh, en in table.values())
    assert i18n.labels("en")["unit_kinds"]["sub_centre"] == "Sub-centre"
    assert i18n.labels("zh")["levels"]["community"] == "村/居"
