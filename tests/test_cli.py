"""The command line: clear messages, non-zero exits, nothing half-written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import DISTRICT, small_district_geojson

CLI = [str(Path(sys.executable).with_name("liandong"))]


def run(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIANDONG_DATABASE_URL": url}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, input=stdin, timeout=120)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_cli_import_generate_locate_export(sqlite_url, tmp_path):
    assert run(sqlite_url, "migrate").returncode == 0
    src = tmp_path / "areas.geojson"
    src.write_text(json.dumps(small_district_geojson(), ensure_ascii=False), encoding="utf-8")
    r = run(sqlite_url, "areas", "import", str(src))
    assert r.returncode == 0 and json.loads(r.stdout)["created"] == 7
    r = run(sqlite_url, "areas", "generate-grids", DISTRICT, "--target-m2", "40000")
    assert r.returncode == 0 and json.loads(r.stdout)["grids"] > 400
    r = run(sqlite_url, "areas", "locate", "121.305", "31.105")
    assert r.returncode == 0 and json.loads(r.stdout)["grid"]["code"].startswith("319901001")
    r = run(sqlite_url, "areas", "locate", "120.0", "30.0")
    assert r.returncode == 1 and "no unit grid" in r.stderr
    out = tmp_path / "grids.geojson"
    r = run(sqlite_url, "areas", "export", "grid", "--within", "319901002", "-o", str(out))
    assert r.returncode == 0
    feats = json.loads(out.read_text(encoding="utf-8"))["features"]
    assert feats and all(f["properties"]["code"].startswith("319901002") for f in feats)
    summary = json.loads(run(sqlite_url, "areas", "summary").stdout)
    assert summary["town"] == 2 and summary["grid"] > 400
    assert "grids_generated" in run(sqlite_url, "audit").stdout


def test_cli_bad_import_exits_nonzero_and_writes_nothing(sqlite_url, tmp_path):
    run(sqlite_url, "migrate")
    data = small_district_geojson()
    data["features"][4]["properties"]["parent"] = "319901777"
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(data), encoding="utf-8")
    r = run(sqlite_url, "areas", "import", str(bad))
    assert r.returncode == 2
    assert "nothing was written" in r.stderr and "feature #5" in r.stderr and "unknown parent" in r.stderr
    assert json.loads(run(sqlite_url, "areas", "summary").stdout)["district"] == 0
    r = run(sqlite_url, "areas", "import", str(tmp_path / "missing.geojson"))
    assert r.returncode == 2 and "file not found" in r.stderr


def test_every_command_has_help(sqlite_url):
    for args in (["--help"], ["areas", "--help"], ["layers", "--help"], ["users", "--help"], ["demo", "--help"]):
        r = run(sqlite_url, *args)
        assert r.returncode == 0 and "Usage" in r.stdout
