"""311 history import with the Boston mapping: a fresh database, every row kept (out of area), the on-time
status from our deadline rule agreeing with the dataset's flag, idempotent re-runs, gzip, bad rows."""

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from liandong.cases.models import Case, CaseEvent
from liandong.db import unit_of_work
from liandong.errors import Invalid
from liandong.intake import import311
from tests.test_cli import run

BOSTON = Path(__file__).resolve().parents[2] / "shared/data/service_requests/boston/boston311_2015-08.csv"
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
        events = list(s.execute(select(CaseEvent.action, CaseEvent.at).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.seq)))
        assert [e.action for e in events] == ["report", "close"] and events[1].at == case.closed_at
        open_cases = s.scalar(select(func.count()).select_from(Case).where(Case.state == "reported"))
        assert open_cases == 1762
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
