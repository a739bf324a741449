"""311 history import with the Boston mapping: a fresh database, every row kept (out of area) and replayed
through the transition table at its own times, the on-time status from our deadline rule agreeing with the
dataset's flag (100 % of 12,854 flagged rows of August 2015, as before the history path), imported history
never swept, idempotent re-runs, gzip, bad rows."""

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from liandong.cases import history, sla
from liandong.cases.models import Case, CaseEvent
from liandong.db import unit_of_work
from liandong.errors import Invalid
from liandong.intake import import311
from tests.test_cli import run

BOSTON = Path(__file__).resolve().parents[2] / "shared/data/service_requests/boston/boston311_2015-08.csv"
PATH = ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"]
pytestmark = pytest.mark.skipif(not BOSTON.exists(), reason=f"{BOSTON} is missing (../shared data)")


def test_boston_month_agrees_with_its_own_on_time_flag(db_url):
    m = import311.mapping("boston")
    with import311.open_text(BOSTON) as lines, unit_of_work(db_url) as s:
        result = import311.run(s, m, lines, now=dt.datetime.now(dt.UTC))
    assert result["read"] == result["imported"] == 12883 and result["skipped"] == 0
    assert result["out_of_area"] == 12883  # no areas loaded: kept, flagged
    assert result["ontime_judged"] == 12854 and result["ontime_agreement"] == 1.0
    with unit_of_work(db_url) as s:
        case = s.scalar(select(Case).where(Case.number == "BOS-101001501304"))
        assert case.state == "closed" and case.out_of_area and case.grid_id is None and case.channel == "citizen_web"
        assert case.created_at.isoformat() == "2015-08-01T04:16:54+00:00"  # 00:16:54 in Boston (EDT)
        assert case.case_deadline.isoformat() == "2015-08-06T12:30:00+00:00"
        events = list(s.execute(select(CaseEvent.action, CaseEvent.at, CaseEvent.payload).where(
            CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))
        assert [e.action for e in events] == ["report", *PATH] and events[-1].at == case.closed_at
        assert {e.at for e in events[:4]} == {case.created_at} and {e.at for e in events[4:]} == {case.closed_at}
        assert events[3].payload == {"queue": "PARK_Tree Maintenance Request", "assisting_unit_ids": [],
                                     "imported": True}  # as a live dispatch records it, and the queue beside
        assert case.stage_deadline is None and case.case_limit_minutes is None  # no clocks of ours on history
        states = dict(s.execute(select(Case.state, func.count()).group_by(Case.state)).all())
        assert states == {"closed": 11121, "dispatched": 1762}  # open in Boston: routed to its queue, not done
        # a close logged a second before its case was opened (work done on the spot) is replayed at the opening
        early = s.scalar(select(Case).where(Case.number == "BOS-101001505536"))
        close = s.execute(select(CaseEvent.at, CaseEvent.payload).where(
            CaseEvent.case_id == early.id, CaseEvent.action == "close")).one()
        assert close.at == early.created_at == early.closed_at
        assert close.payload["source_closed_at"] == "2015-08-07T13:13:45+00:00"
        # every event is a step the transition table allows from the state the one before left
        steps = s.execute(select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.action, CaseEvent.from_state,
                                 CaseEvent.to_state, CaseEvent.at).order_by(CaseEvent.case_id, CaseEvent.seq)).all()
        assert len(steps) == 11121 * 9 + 1762 * 4
        for before, e in zip(steps, steps[1:], strict=False):
            if e.seq == 1:
                assert e.action == "report" and e.from_state is None
                continue
            assert before.case_id == e.case_id and before.to_state == e.from_state and before.at <= e.at
            assert history.check([e.action], e.from_state) == e.to_state
        # imported history is never swept: no clock of ours runs on it
        assert sla.sweep(s, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) == []
        assert s.scalar(select(func.count()).select_from(CaseEvent)) == len(steps)
    assert result["closed_before_opened"] == 49
    with import311.open_text(BOSTON) as lines, unit_of_work(db_url) as s:  # a second run adds nothing
        again = import311.run(s, m, lines, now=dt.datetime.now(dt.UTC))
    assert again["imported"] == 0 and again["skipped_reasons"] == {"already imported": 12883}


def test_cli_json_gzip_and_bad_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert run(url, "migrate").returncode == 0
    rows = BOSTON.read_text(encoding="utf-8").splitlines()
    broken = [rows[0], *rows[1:4], ",2015-08-01T00:00:00,,,,Open,x,x,Sanitation,x,x,x,x,x,,",
              "999,last week,,,,Open,x,x,Sanitation,x,x,x,x,x,,"]
    path = tmp_path / "part.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(broken) + "\n")
    out = run(url, "import-311", "--mapping", "boston", str(path), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert {k: summary[k] for k in ("read", "imported", "skipped")} == {"read": 5, "imported": 3, "skipped": 2}
    assert summary["skipped_reasons"] == {"no id": 1, "a date that cannot be read": 1}
    assert "on-time agreement" in out.stdout and summary["ontime_agreement"] == 1.0
    missing = run(url, "import-311", "--mapping", "nowhere", str(path))
    assert missing.returncode == 2 and "no mapping" in missing.stderr


def test_unknown_mapping_and_columns(tmp_path):
    with pytest.raises(Invalid, match="no mapping"):
        import311.mapping("atlantis")
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"columns": {}}), encoding="utf-8")
    with pytest.raises(Invalid, match="lacks"):
        import311.mapping(str(bad))
