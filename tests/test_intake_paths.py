"""One way in: no module outside ``cases/`` writes case or event rows or opens a case by hand (a source scan,
shown to catch planted writers); foreign history goes through the history path, which replays each record as
steps the transition table allows at the record's own times; a merged citizen report is rated through the
case service once its master is closed, once."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from liandong.app import create_app
from liandong.cases import history
from liandong.cases.models import Case, CaseEvent
from liandong.catalogue import snapshot
from liandong.catalogue.service import load_standard
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.errors import Invalid
from liandong.intake import import311
from tests.caseworld import WEST_POINT, do
from tests.conftest import login
from tests.factories import PASSWORD

SRC = Path(__file__).resolve().parents[1] / "src" / "liandong"
ALLOWED = ("cases", "migrations")
"""The case core writes its own rows; migrations shape tables, they write no cases."""
TABLES = frozenset({"Case", "CaseEvent"})
LOG_FUNCS = frozenset({"append", "record", "append_many"})
BY_HAND = {"intake": {"report"}, "dedupe": {"after_report"}}
"""The steps of opening a case: a channel calls intake.open_case, never these one after the other."""
RAW_SQL = re.compile(r"\b(insert\s+into|update|delete\s+from)\s+[\"`]?(cases|case_events)\b", re.IGNORECASE)


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def writes(source: str) -> list[str]:
    """Every place a module writes case or event rows itself or opens a case by hand, as ``line: what``."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # bound name → liandong.cases module (log, intake, dedupe)
    functions: dict[str, str] = {}  # bound name → "log.append" …
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("liandong.cases"):
            for alias in node.names:
                bound = alias.asname or alias.name
                if node.module == "liandong.cases":
                    modules[bound] = alias.name
                else:
                    functions[bound] = f"{node.module.rsplit('.', 1)[-1]}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("liandong.cases.") and alias.asname:
                    modules[alias.asname] = alias.name.rsplit(".", 1)[-1]
    forbidden = {f"log.{f}" for f in LOG_FUNCS} | {f"{m}.{f}" for m, fs in BY_HAND.items() for f in fs}
    found = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.Call):
            name = _dotted(node.func) or ""
            head, _, attr = name.rpartition(".")
            last = attr or name
            first = _dotted(node.args[0]) if node.args else None
            if last in ("insert", "update", "delete") and first and first.rsplit(".", 1)[-1] in TABLES:
                what = f"{last}({first})"
            elif last in TABLES:
                what = f"{last}(…)"
            elif head and f"{modules.get(head.rsplit('.', 1)[-1], '')}.{attr}" in forbidden:
                what = f"{modules[head.rsplit('.', 1)[-1]]}.{attr}"
            elif name.startswith("liandong.cases.") and ".".join(name.split(".")[-2:]) in forbidden:
                what = ".".join(name.split(".")[-2:])
            elif not head and functions.get(name) in forbidden:
                what = functions[name]
        elif isinstance(node, ast.Attribute) and node.attr == "__table__":
            owner = _dotted(node.value)
            if owner and owner.rsplit(".", 1)[-1] in TABLES:
                what = f"{owner}.__table__"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_SQL.search(node.value):
            what = f"SQL {RAW_SQL.search(node.value).group(0)!r}"
        if what:
            found.append(f"{node.lineno}: {what}")
    return sorted(set(found), key=lambda f: int(f.split(":")[0]))


def scan(root: Path) -> dict[str, list[str]]:
    """``writes`` over every module under ``root`` (a ``liandong`` package) but the allowed ones."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in ALLOWED:
            continue
        if found := writes(path.read_text(encoding="utf-8")):
            out[str(rel)] = found
    return out


PLANTED = {
    "insert(Case)": "from sqlalchemy import insert\nfrom liandong.cases.models import Case\n"
                    "def f(s, rows):\n    s.execute(insert(Case), rows)\n",
    "insert(models.CaseEvent)": "import sqlalchemy as sa\nfrom liandong.cases import models\n"
                                "def f(s, rows):\n    s.execute(sa.insert(models.CaseEvent), rows)\n",
    "update(Case)": "from sqlalchemy import update\ndef f(s):\n    s.execute(update(Case).values(state='closed'))\n",
    "Case.__table__": "def f(conn, rows):\n    conn.execute(Case.__table__.insert(), rows)\n",
    "CaseEvent(…)": "def f(s):\n    s.add(CaseEvent(case_id=1, seq=2, action='rate'))\n",
    "Case(…)": "def f(session):\n    session.add(Case(number='x'))\n",
    "log.append": "from liandong.cases import log\n"
                  "def f(s, now):\n    log.append(s, 1, 'rate', 'merged', 'merged', {}, now, actor='hotline')\n",
    "log.record": "from liandong.cases import log as events\ndef f(s, c, who, now):\n"
                  "    events.record(s, c, who, 'comment', 'closed', 'closed', {}, now)\n",
    "log.append_many": "from liandong.cases.log import append_many\ndef f(s):\n    append_many(s, [])\n",
    "SQL 'INSERT INTO case_events'": "from sqlalchemy import text\n"
                                     "def f(s):\n    s.execute(text('INSERT INTO case_events (case_id) VALUES (1)'))\n",
    "intake.report": "from liandong.cases import intake\ndef f(s, i, who):\n"
                     "    return intake.report(s, i, who, matter_code='06010', description='x', lon=0, lat=0,"
                     " channel='hotline')\n",
    "dedupe.after_report": "from liandong.cases import dedupe\n"
                           "def f(s, i, c, cal):\n    dedupe.after_report(s, i, c, cal)\n",
}


@pytest.mark.parametrize("what", sorted(PLANTED))
def test_the_scan_catches_a_planted_writer(what):
    found = writes(PLANTED[what])
    assert found and all(what in f for f in found), found


def test_the_scan_lets_ordinary_code_be():
    clean = ("import logging\nfrom liandong.cases import intake, queries\nlog = logging.getLogger(__name__)\n"
             "def f(s, i, who, case):\n    log.info('record %s', case.id)\n    queries.get(s, case.id, who)\n"
             "    rows = []\n    rows.append(case)\n    return intake.open_case(s, i, who, matter_code='06010',"
             " description='x', lon=0, lat=0, channel='hotline').case\n")
    assert writes(clean) == []


def test_no_module_outside_the_case_core_writes_cases_or_events(tmp_path):
    assert scan(SRC) == {}
    # and on a tree with a writer planted in a channel: found there, while the same code in cases/ is allowed
    for where in ("cases", "intake", "web"):
        (tmp_path / where).mkdir()
    (tmp_path / "cases" / "history.py").write_text(PLANTED["insert(Case)"], encoding="utf-8")
    (tmp_path / "intake" / "quick.py").write_text(PLANTED["log.append"], encoding="utf-8")
    (tmp_path / "web" / "page.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    assert scan(tmp_path) == {"intake/quick.py": ["3: log.append"]}


# --- the history path -------------------------------------------------------------------------------------

T0 = dt.datetime(2015, 8, 3, 9, 0, tzinfo=dt.UTC)
PATH = ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"]


def record(number: str, matter_id: int, steps: list[history.Step]) -> history.Record:
    return history.Record({"number": number, "matter_id": matter_id, "urgency": "normal", "channel": "hotline",
                           "description": "历史记录", "lon": 0.0, "lat": 0.0, "grid_id": None, "area_path": "",
                           "out_of_area": True, "created_at": T0, "case_deadline": T0 + dt.timedelta(days=2)},
                          steps)


def steps_at(actions: list[str], hours: float = 1.0) -> list[history.Step]:
    return [history.Step(a, T0 + dt.timedelta(hours=hours * i), {"note": "已办结"} if a == "report_done" else {})
            for i, a in enumerate(actions, start=1)]


def test_history_replays_each_step_through_the_table(db_url):
    from liandong.cases.batch import Batch

    with unit_of_work(db_url) as s:
        load_standard(s)
        matter = snapshot.current(s).by_code["06010"].id
        done = steps_at(PATH) + [history.Step("rate", T0 + dt.timedelta(days=1), {"satisfaction": "satisfied"})]
        ids = history.replay(s, [record("H-1", matter, done), record("H-2", matter, steps_at(PATH[:3]))], "test")
    with unit_of_work(db_url) as s, Batch(s) as batch:  # not while a batch holds ids for rows it has not written
        batch.use_ids([ids[-1] + 1])
        with pytest.raises(RuntimeError, match="holds case ids"):
            history.replay(s, [record("H-3", matter, done)], "test")
    with unit_of_work(db_url) as s:
        closed, still_open = s.get(Case, ids[0]), s.get(Case, ids[1])
        assert (closed.state, closed.closed_at, closed.satisfaction) == ("closed", T0 + dt.timedelta(hours=8),
                                                                         "satisfied")
        assert closed.updated_at == T0 + dt.timedelta(days=1) and closed.case_limit_minutes is None
        assert (still_open.state, still_open.closed_at, still_open.stage_deadline) == ("dispatched", None, None)
        events = s.execute(select(CaseEvent.seq, CaseEvent.action, CaseEvent.from_state, CaseEvent.to_state,
                                  CaseEvent.actor, CaseEvent.payload).where(CaseEvent.case_id == ids[0])
                           .order_by(CaseEvent.seq)).all()
    assert [e.action for e in events] == ["report", *PATH, "rate"] and [e.seq for e in events] == list(range(1, 11))
    assert [(e.from_state, e.to_state) for e in events[:3]] == [(None, "reported"), ("reported", "accepted"),
                                                                ("accepted", "filed")]
    assert events[-1][2:4] == ("closed", "closed") and {e.actor for e in events} == {"import:test"}
    assert all(e.payload["imported"] for e in events)


SELF = {"close_self_handled": {"note": "现场解决"}}
RATED = {**SELF, "rate": {"satisfaction": "satisfied"}}


@pytest.mark.parametrize(("actions", "hours", "payloads", "refusal", "code"), [
    (["accept", "close"], 1.0, {}, "'close' is not allowed in state 'accepted'", "not_allowed_in_state"),
    (["accept", "file"], -1.0, {}, "comes before the step it follows", "history_out_of_order"),
    (["accept", "file", "dispatch", "sign", "report_done"], 1.0, {}, "'report_done' needs 'note'", "missing_field"),
    (["accept", "fly"], 1.0, {}, "'fly' is not allowed in state 'accepted'", "not_allowed_in_state"),
    (["accept", "close_self_handled", "rate"], 1.0, {**SELF, "rate": {"satisfaction": "so-so"}}, "'rate': satisfaction",
     "invalid_field"),
    (["accept", "close_self_handled", "rate", "rate"], 1.0, RATED, "rated already", "already_rated"),
])
def test_history_refuses_what_the_table_or_the_clock_does_not_allow(actions, hours, payloads, refusal, code):
    steps = [history.Step(a, T0 + dt.timedelta(hours=hours * i), dict(payloads.get(a, {})))
             for i, a in enumerate(actions, start=1)]
    with pytest.raises(Invalid, match=refusal) as refused:
        history.walk(record("H-9", 1, steps))
    assert refused.value.code == code


def test_history_validates_the_fields_an_action_knows_and_keeps_foreign_facts():
    """A step's payload is checked by its action's model; what the foreign system adds goes along as it is."""
    steps = [history.Step("accept", T0 + dt.timedelta(hours=1)),
             history.Step("file", T0 + dt.timedelta(hours=2)),
             history.Step("dispatch", T0 + dt.timedelta(hours=3), {"queue": "PWDx_District 1: Street Lights"})]
    assert history.walk(record("H-8", 1, steps))[-1] == "dispatched"
    steps[-1] = history.Step("dispatch", T0 + dt.timedelta(hours=3), {"lead_unit_id": "the works department"})
    with pytest.raises(Invalid, match="lead_unit_id") as refused:
        history.walk(record("H-8", 1, steps))
    assert refused.value.code == "invalid_field"


def test_a_refused_record_writes_nothing(db_url):
    with unit_of_work(db_url) as s:
        load_standard(s)
        matter = snapshot.current(s).by_code["06010"].id
        good, bad = record("H-3", matter, steps_at(PATH)), record("H-4", matter, steps_at(["close"]))
        with pytest.raises(Invalid, match="case H-4: 'close' is not allowed in state 'reported'"):
            history.replay(s, [good, bad], "test")
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_a_mapping_whose_path_the_table_refuses_is_refused(tmp_path):
    base = import311.mapping("boston")
    for path, why in (({"opened": ["accept"], "closed": ["close"]}, "'close' is not allowed in state 'accepted'"),
                      ({"opened": ["accept", "close_self_handled"], "closed": []}, "must leave the case open"),
                      ({"opened": ["accept"], "closed": ["file"]}, "must end with the case closed")):
        mapping = tmp_path / "m.json"
        mapping.write_text(json.dumps({**base, "history": path}), encoding="utf-8")
        with pytest.raises(Invalid, match=why):
            import311.mapping(str(mapping))


# --- rating a merged report ---------------------------------------------------------------------------------

def test_a_merged_citizen_report_is_rated_once_its_master_is_closed(case_world, tmp_path):
    """The citizen channel rates through the case service: a merged report once its master is closed, once."""
    client = TestClient(create_app(Settings(database_url=case_world, dedupe_auto=0.85, dedupe_review=0.6,
                                            upload_dir=str(tmp_path))))
    x, y = WEST_POINT[0] - 0.002, WEST_POINT[1] - 0.002
    rec = login(client, "receptionist", PASSWORD)
    master = client.post("/api/v1/cases", headers=rec, json={
        "matter_code": "06010", "description": "菜场门口垃圾堆积", "lon": x, "lat": y, "channel": "grid_worker"}).json()
    mine = client.post("/api/v1/public/reports", data={
        "matter_code": "06010", "description": "菜场门口垃圾堆积", "lon": str(x), "lat": str(y)}).json()
    number, key = mine["number"], mine["key"]
    seen = client.get(f"/api/v1/public/reports/{number}", params={"key": key}).json()
    assert seen["merged_into"] == master["number"] and seen["can_rate"] is False
    rating = {"key": key, "satisfaction": "very_satisfied"}
    early = client.post(f"/api/v1/public/reports/{number}/rating", json=rating)
    assert early.status_code == 409 and early.json()["code"] == "master_not_closed"
    from tests.caseworld import unit_id
    from tests.factories import WEST

    for action in PATH:
        extra = {"report_done": {"note": "已清运"}, "dispatch": {"lead_unit_id": unit_id(case_world, f"B-cm-{WEST}")}}
        do(case_world, master["id"], action, **extra.get(action, {}))
    seen = client.get(f"/api/v1/public/reports/{number}", params={"key": key}).json()
    assert seen["stage"] == "closed" and seen["can_rate"] is True
    done = client.post(f"/api/v1/public/reports/{number}/rating", json=rating)
    assert done.status_code == 200 and done.json()["satisfaction"] == "very_satisfied"
    assert done.json()["can_rate"] is False
    again = client.post(f"/api/v1/public/reports/{number}/rating", json=rating)
    assert again.status_code == 422 and again.json()["code"] == "already_rated"  # the channel's answer, as before
    with unit_of_work(case_world) as s:
        case = s.scalar(select(Case).where(Case.number == number))
        rate = s.execute(select(CaseEvent.from_state, CaseEvent.to_state, CaseEvent.payload).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "rate")).one()
    assert (case.state, case.satisfaction) == ("merged", "very_satisfied")
    assert rate.from_state == rate.to_state == "merged" and rate.payload["master"] == master["number"]
