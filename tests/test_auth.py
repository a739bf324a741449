"""Login, tokens, lock-out, audit log, roles and jurisdiction (a town never sees another town)."""

import contextlib
import datetime as dt

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from liandong.auth import service
from liandong.auth.models import AuditEntry, AuthToken, User
from liandong.auth.passwords import verify_password
from liandong.db import unit_of_work
from liandong.errors import Unauthorized
from tests.conftest import login, make_client
from tests.factories import EAST, PASSWORD, WEST, build_small_district


@pytest.fixture
def world(db_url):
    with unit_of_work(db_url) as s:
        build_small_district(s)
    return db_url


def audit_actions(url, actor=None):
    with unit_of_work(url) as s:
        stmt = select(AuditEntry.action).order_by(AuditEntry.id)
        if actor:
            stmt = stmt.where(AuditEntry.actor == actor)
        return list(s.scalars(stmt))


def test_passwords_are_argon2_hashed(world):
    with unit_of_work(world) as s:
        user = s.scalar(select(User).where(User.username == "admin"))
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        assert verify_password(user.password_hash, PASSWORD)


def test_token_login_and_me(world):
    client = make_client(world)
    auth = login(client, "dispatcher", PASSWORD)
    me = client.get("/api/v1/me", headers=auth).json()
    assert me["username"] == "dispatcher" and me["roles"] == ["dispatcher"]
    assert me["unit"]["code"] == "C" and me["unit"]["kind"] == "centre" and set(me["unit"]) >= {"id", "name"}
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    # only the token's hash is stored
    with unit_of_work(world) as s:
        hashes = list(s.scalars(select(AuthToken.token_hash)))
    assert auth["Authorization"].split()[1] not in hashes and len(hashes) == 1
    assert "login" in audit_actions(world, "dispatcher")


def test_wrong_password_and_unknown_user_look_the_same(world):
    client = make_client(world)
    a = client.post("/api/v1/auth/token", data={"username": "dispatcher", "password": "wrong-password!"})
    b = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong-password!"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()
    assert audit_actions(world).count("login_failed") == 2


def test_lockout_after_repeated_failures(world):
    client = make_client(world)
    for _ in range(5):
        r = client.post("/api/v1/auth/token", data={"username": "dispatcher", "password": "wrong-password!"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": "dispatcher", "password": PASSWORD})
    locked_answer = client.post("/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert r.status_code == 401 and r.json() == locked_answer.json()  # a lock-out is not revealed either
    actions = audit_actions(world, "dispatcher")
    assert actions.count("login_failed") == 5 and "account_locked" in actions and "login_refused" in actions
    # the lock expires on its own …
    with unit_of_work(world) as s:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
        assert service.authenticate(s, "dispatcher", PASSWORD, now=later).username == "dispatcher"
    # … and an admin can clear it
    with unit_of_work(world) as s:
        s.execute(text("UPDATE users SET locked_until = :t WHERE username = 'west_handler'"),
                  {"t": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)})
    admin = login(client, "admin", PASSWORD)
    assert client.post("/api/v1/auth/token", data={"username": "west_handler", "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/users/west_handler/unlock", headers=admin).status_code == 200
    login(client, "west_handler", PASSWORD)
    assert "user_unlocked" in audit_actions(world, "admin")


def test_logout_revokes_token(world):
    client = make_client(world)
    auth = login(client, "dispatcher", PASSWORD)
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_each_process_remembers_a_token_briefly(world):
    """Changes made in this process count at once; another process's change counts within the cache time."""
    from fastapi.testclient import TestClient

    from liandong.app import create_app
    from liandong.auth import principals
    from liandong.config import Settings

    cached = TestClient(create_app(Settings(database_url=world, principal_cache_seconds=3600)))
    uncached = TestClient(create_app(Settings(database_url=world, principal_cache_seconds=0)))
    admin = login(cached, "admin", PASSWORD)
    disp = login(cached, "dispatcher", PASSWORD)
    assert cached.get("/api/v1/me", headers=disp).json()["roles"] == ["dispatcher"]
    assert cached.put("/api/v1/users/dispatcher/roles", json={"roles": ["dispatcher", "inspector"]},
                      headers=admin).status_code == 200
    assert cached.get("/api/v1/me", headers=disp).json()["roles"] == ["dispatcher", "inspector"]  # same process
    with unit_of_work(world) as s:  # as another process would: straight into the database
        s.execute(update(AuthToken).values(revoked_at=dt.datetime.now(dt.UTC)))
    assert uncached.get("/api/v1/me", headers=disp).status_code == 401
    assert cached.get("/api/v1/me", headers=disp).status_code == 200  # still within its cache time
    principals.changed()  # what the cache time running out amounts to
    assert cached.get("/api/v1/me", headers=disp).status_code == 401


def test_expired_token_is_refused(world):
    with unit_of_work(world) as s:
        user = s.scalar(select(User).where(User.username == "dispatcher"))
        secret = service.issue_token(s, user, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    with unit_of_work(world) as s, pytest.raises(Unauthorized):
        service.user_for_token(s, secret)


def test_audit_log_is_append_only(world):
    with unit_of_work(world) as s:
        assert s.scalar(select(AuditEntry.id).limit(1)) is not None
    for stmt in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), unit_of_work(world) as s:
            s.execute(text(stmt))


def test_admin_endpoints_need_admin(world):
    client = make_client(world)
    disp = login(client, "dispatcher", PASSWORD)
    admin = login(client, "admin", PASSWORD)
    body = {"username": "newbie", "password": "a-long-password-1", "unit_code": f"S-{WEST}", "roles": ["inspector"]}
    assert client.post("/api/v1/users", json=body, headers=disp).status_code == 403
    assert client.get("/api/v1/audit", headers=disp).status_code == 403
    r = client.post("/api/v1/users", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["roles"] == ["inspector"]
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 409
    weak = {**body, "username": "weak", "password": "short"}
    r = client.post("/api/v1/users", json=weak, headers=admin)
    assert r.status_code == 422 and "at least" in r.json()["detail"]
    bad_role = {**body, "username": "x", "roles": ["emperor"]}
    assert client.post("/api/v1/users", json=bad_role, headers=admin).status_code == 422
    r = client.put("/api/v1/users/newbie/roles", json={"roles": ["inspector", "receptionist"]}, headers=admin)
    assert r.json()["roles"] == ["inspector", "receptionist"]
    log = client.get("/api/v1/audit", headers=admin).json()
    assert {"user_created", "user_roles_changed"} <= {e["action"] for e in log}
    created = next(e for e in log if e["action"] == "user_created")
    assert created["actor"] == "admin" and created["target"] == "user:newbie"
    # password change revokes the user's tokens
    newbie = login(client, "newbie", "a-long-password-1")
    assert client.put("/api/v1/users/newbie/password", json={"password": "another-long-pass-2"},
                      headers=admin).status_code == 204
    assert client.get("/api/v1/me", headers=newbie).status_code == 401


def test_town_user_never_sees_another_town(world):
    client = make_client(world)
    west = login(client, "west_handler", PASSWORD)
    district = login(client, "dispatcher", PASSWORD)
    # summary counts only the own subtree
    s_w = client.get("/api/v1/areas/summary", headers=west).json()
    s_d = client.get("/api/v1/areas/summary", headers=district).json()
    assert s_w["town"] == 1 and s_w["community"] == 2 and s_w["district"] == 0
    assert s_d["district"] == 1 and s_d["town"] == 2 and s_d["grid"] > s_w["grid"] > 0
    # other town: 404, not 403, to leak nothing
    assert client.get(f"/api/v1/areas/{EAST}", headers=west).status_code == 404
    assert client.get(f"/api/v1/areas/{EAST}001", headers=west).status_code == 404
    assert client.get(f"/api/v1/areas/{WEST}", headers=west).status_code == 200
    assert client.get(f"/api/v1/areas/{EAST}", headers=district).status_code == 200
    fc = client.get("/api/v1/areas/geojson", params={"level": "grid"}, headers=west).json()
    assert fc["features"] and all(f["properties"]["code"].startswith(WEST) for f in fc["features"])
    assert client.get("/api/v1/areas/geojson", params={"level": "grid", "within": EAST},
                      headers=west).status_code == 404
    roots = client.get("/api/v1/areas", headers=west).json()["items"]
    assert [a["code"] for a in roots] == [WEST]
    units = client.get("/api/v1/units", headers=west).json()["items"]
    assert units and all(u["area"].startswith(WEST) for u in units)
    assert client.get(f"/api/v1/units/S-{EAST}", headers=west).status_code == 404
    assert client.get(f"/api/v1/units/S-{EAST}", headers=district).status_code == 200


def test_personal_data_masked(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    users = {u["username"]: u for u in client.get("/api/v1/users", headers=admin).json()}
    assert users["dispatcher"]["phone"] == "138****5678"
    # the user sees their own number in full
    disp = login(client, "dispatcher", PASSWORD)
    assert client.get("/api/v1/me", headers=disp).json()["phone"] == "13812345678"


def test_town_admin_stays_in_the_town(world):
    with unit_of_work(world) as s:
        service.create_user(s, username="west_admin", password=PASSWORD, unit_code=f"S-{WEST}", roles=["admin"])
    client = make_client(world)
    town = login(client, "west_admin", PASSWORD)
    names = {u["username"] for u in client.get("/api/v1/users", headers=town).json()}
    assert names == {"west_handler", "west_admin"}
    body = {"username": "x_user", "password": "a-long-password-1", "roles": ["handler"]}
    assert client.post("/api/v1/users", json={**body, "unit_code": f"S-{EAST}"}, headers=town).status_code == 422
    assert client.post("/api/v1/users", json={**body, "unit_code": f"S-{WEST}"}, headers=town).status_code == 201
    for call in (lambda: client.put("/api/v1/users/east_handler/roles", json={"roles": ["admin"]}, headers=town),
                 lambda: client.put("/api/v1/users/admin/password", json={"password": "taken-over-123"},
                                    headers=town),
                 lambda: client.post("/api/v1/users/east_handler/unlock", headers=town)):
        assert call().status_code == 404
    assert client.get("/api/v1/audit", headers=town).status_code == 403
    unit = {"code": "T-x", "name": "队伍", "kind": "team", "area_code": f"{EAST}001"}
    assert client.post("/api/v1/units", json=unit, headers=town).status_code == 422
    assert client.post("/api/v1/units", json={**unit, "area_code": f"{WEST}001"}, headers=town).status_code == 201
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "code": "399999", "name": "别的区", "level": "district"},
        "geometry": {"type": "Polygon", "coordinates": [[[121, 31], [121.1, 31], [121.1, 31.1], [121, 31]]]}}]}
    r = client.post("/api/v1/areas/import", json=fc, headers=town)
    assert r.status_code == 422 and "system-wide administrator" in r.json()["errors"][0]


def test_the_last_admin_cannot_be_removed(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    r = client.put("/api/v1/users/admin/roles", json={"roles": ["leader"]}, headers=admin)
    assert r.status_code == 409 and "no active administrator" in r.json()["detail"]
    assert client.put("/api/v1/users/dispatcher/roles", json={"roles": ["dispatcher", "admin"]},
                      headers=admin).status_code == 200
    assert client.put("/api/v1/users/admin/roles", json={"roles": ["leader"]}, headers=admin).status_code == 200


def test_disabled_users_cannot_log_in(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    r = client.put("/api/v1/users/admin/active", json={"active": False}, headers=admin)
    assert r.status_code == 409  # the last active admin
    disp = login(client, "dispatcher", PASSWORD)
    r = client.put("/api/v1/users/dispatcher/active", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get("/api/v1/me", headers=disp).status_code == 401  # its tokens stop working
    assert client.post("/api/v1/auth/token", data={"username": "dispatcher", "password": PASSWORD}).status_code == 401
    assert client.put("/api/v1/users/dispatcher/active", json={"active": True}, headers=admin).status_code == 200
    login(client, "dispatcher", PASSWORD)


@pytest.mark.parametrize("name", ["ａｄｍｉｎ", "²³", "a b", "", "x" * 65])
def test_usernames_are_plain_ascii(world, name):
    with pytest.raises(Exception, match="username"), unit_of_work(world) as s:
        service.create_user(s, username=name, password=PASSWORD, unit_code="C", roles=["leader"])


def test_parallel_wrong_passwords_all_count(world):
    """Guesses racing each other must not lose failure counts (the user row is locked per attempt)."""
    from concurrent.futures import ThreadPoolExecutor

    def guess(_):
        try:
            with unit_of_work(world) as s, contextlib.suppress(Unauthorized):
                service.authenticate(s, "dispatcher", "wrong-password!")
        except DBAPIError:  # SQLite may report 'database is locked' under contention: a refused guess
            return

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(guess, range(4)))
    with unit_of_work(world) as s:
        failures = s.scalar(select(User.failed_logins).where(User.username == "dispatcher"))
        refused = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "login_failed"))
    assert failures == refused == 4
