"""The GB/T 47678.5-2026 catalogue with local lines and time limits; admin edits are audited."""

import pytest
from sqlalchemy import func, select, update

from liandong.catalogue import service, snapshot
from liandong.catalogue.models import Matter
from liandong.db import unit_of_work
from liandong.errors import NotFound
from tests.conftest import login, make_client
from tests.factories import PASSWORD, build_small_district


@pytest.fixture
def world(db_url):
    with unit_of_work(db_url) as s:
        build_small_district(s)
        assert service.load_standard(s)["matters"] == 250
        assert service.load_standard(s)["loaded"] is False  # idempotent
    return db_url


def test_standard_tables(world):
    with unit_of_work(world) as s:
        kinds = dict(s.execute(select(Matter.kind, func.count()).group_by(Matter.kind)).all())
        assert kinds == {"component": 153, "event": 97}
        cover = service.get(s, "01001")
        assert cover.name == "供水井盖异常" and cover.component_code == "01001" and cover.major_name == "市政公用设施类"
        assert cover.line == "water" and cover.default_urgency == "urgent"
        snap = snapshot.current(s)
        assert snap.by_code["01001"].limit("urgent", "dispose") == (2, "hour")
        garbage = service.get(s, "06010")
        assert garbage.legacy_code == "01-10" and garbage.line == "greening"
        assert snap.by_code["06010"].limit("normal", "dispose") == (4, "hour")
        building = service.get(s, "06001")
        assert building.line == "city_management" and snap.by_code["06001"].limit("normal", "dispose") == (20, "day")
        assert service.get(s, "09005").legacy_code == "04-05"
        assert service.get(s, "09009").line == "public_security"  # 机动车乱停放
        assert service.get(s, "10001").legacy_code is None
        assert service.matter_for_legacy(s, "01-36").code == "06036"  # a seen legacy code whose name changed
        with pytest.raises(NotFound):
            service.matter_for_legacy(s, "05-01")  # 突发事件 has no 2026 counterpart in the table
        lines = set(s.scalars(select(Matter.line)))
        # every matter carries filing and closing criteria; the ones local practice sets are specific
        assert not s.scalar(select(func.count()).select_from(Matter).where(
            (Matter.filing_criteria.is_(None)) | (Matter.closing_criteria.is_(None))))
        assert "1 m²" in garbage.filing_criteria and "清运" in garbage.closing_criteria
        assert cover.filing_criteria.startswith("供水井盖：") and "功能恢复" in cover.closing_criteria
    assert len(lines) >= 9
    table = service.crosswalk()
    assert len(table) == 95 and sum(r["basis"].startswith("seen") for r in table.values()) == 14


def test_search_and_edit(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    disp = login(client, "dispatcher", PASSWORD)
    found = client.get("/api/v1/catalogue/matters", params={"q": "井盖"}, headers=disp).json()
    assert found["total"] >= 20 and all("井盖" in m["name"] for m in found["items"])
    patch = {"line": "housing", "filing_criteria": "面积≥2㎡",
             "limits": [{"urgency": "normal", "stage": "dispose", "amount": 6, "unit": "hour"}]}
    assert client.patch("/api/v1/catalogue/matters/06010", json=patch, headers=disp).status_code == 403
    r = client.patch("/api/v1/catalogue/matters/06010", json=patch, headers=admin)
    assert r.status_code == 200
    m = r.json()
    assert m["line"] == "housing" and m["filing_criteria"] == "面积≥2㎡"
    assert {"urgency": "normal", "stage": "dispose", "amount": 6, "unit": "hour"} in m["limits"]
    bad = client.patch("/api/v1/catalogue/matters/06010", json={"line": "navy"}, headers=admin)
    assert bad.status_code == 422
    bad = client.patch("/api/v1/catalogue/matters/06010", json={"limits": [
        {"urgency": "normal", "stage": "dispose", "amount": -1, "unit": "hour"}]}, headers=admin)
    assert bad.status_code == 422
    assert client.get("/api/v1/catalogue/matters/06010", headers=disp).json()["line"] == "housing"
    rec = disp  # the next case already follows the edit (same process)
    case = client.post("/api/v1/cases", json={"matter_code": "06010", "description": "暴露垃圾", "lon": 121.305,
                                              "lat": 31.105, "channel": "hotline"}, headers=rec).json()
    assert case["line"] == "housing" and case["limits"]["dispose"] == {"amount": 6, "unit": "hour"}
    log = client.get("/api/v1/audit", params={"action": "matter_changed"}, headers=admin).json()
    assert len(log) == 1 and log[0]["detail"]["before"]["line"] == "greening"
    local = {"code": "L0001", "name": "共享充电宝乱放", "major_code": "90", "major_name": "地方扩展类",
             "line": "market_supervision"}
    r = client.post("/api/v1/catalogue/matters", json=local, headers=admin)
    assert r.status_code == 201 and r.json()["local"] is True and r.json()["limits"]
    assert client.post("/api/v1/catalogue/matters", json=local, headers=admin).status_code == 409


def test_other_processes_see_an_edit_after_the_revision_moves(world, monkeypatch):
    """Each process keeps a catalogue snapshot; an edit elsewhere is picked up at the next revision check."""
    monkeypatch.setattr(snapshot, "CHECK_SECONDS", 0.0)
    with unit_of_work(world) as s:
        assert snapshot.current(s).by_code["06010"].line == "greening"
    with unit_of_work(world) as s:  # another process edits without going through this process's cache
        s.execute(update(Matter).where(Matter.code == "06010").values(line="housing"))
        snapshot.bump_revision(s, snapshot.REVISION_KEY)
    with unit_of_work(world) as s:
        assert snapshot.current(s).by_code["06010"].line == "housing"
