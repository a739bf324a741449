"""Server-rendered pages without a browser: login, logout, the map page and its redirects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from liandong.auth import service as auth_service
from liandong.auth.deps import SESSION_COOKIE
from liandong.auth.models import AuditEntry, AuthToken, User
from liandong.config import get_settings
from liandong.db import dispose_engine, session_factory
from liandong.web.common import safe_next
from liandong.web.mobile import asset_version
from tests.webdata import CENTRE_NAME, DISPLAY_NAME, PASSWORD, USERNAME, build, make_app


@pytest.fixture
def data(tmp_path, monkeypatch):
    data = build(tmp_path / "web.db", monkeypatch)
    yield data
    dispose_engine(data.url)
    get_settings.cache_clear()


@pytest.fixture
def client(data) -> Iterator[TestClient]:
    with TestClient(make_app(data), base_url="http://testserver") as c:
        yield c


def login(client: TestClient, password: str = PASSWORD, next_: str | None = None):
    form = {"username": USERNAME, "password": password}
    if next_ is not None:
        form["next"] = next_
    return client.post("/login", data=form, follow_redirects=False)


def test_login_page_renders(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert 'lang="zh-CN"' in html
    assert 'action="/login"' in html and 'method="post"' in html
    assert '<label for="username">' in html and '<label for="password">' in html
    assert 'name="username"' in html and 'name="password"' in html
    assert "<script" not in html  # nothing inline, nothing needed
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_wrong_password_is_401_and_logs_nobody_in(client, data):
    r = login(client, password="not-the-password")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text and "Wrong username or password" not in r.text  # Chinese by default
    assert f'value="{USERNAME}"' in r.text  # the username is kept, the password is not
    assert SESSION_COOKIE not in r.cookies and SESSION_COOKIE not in client.cookies
    assert client.get("/", follow_redirects=False).status_code == 303
    with session_factory(data.url)() as s:  # committed despite the error
        assert s.scalar(select(User.failed_logins).where(User.username == USERNAME)) == 1
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "login_failed")) is not None
        assert s.scalar(select(AuthToken.id)) is None


def test_unknown_user_gets_the_same_message(client):
    r = client.post("/login", data={"username": "nobody", "password": "whatever-pass"}, follow_redirects=False)
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text


def test_lockout_message_is_shown(client, data):
    for _ in range(get_settings().lockout_threshold):
        assert login(client, password="wrong-password-x").status_code == 401
    r = login(client)  # right password, but the account is locked now
    assert r.status_code == 401
    assert "锁定" in r.text
    client.cookies.set("liandong_lang", "en")
    r = login(client)
    assert r.status_code == 401 and "locked" in r.text and 'lang="en"' in r.text
    client.cookies.delete("liandong_lang")
    assert SESSION_COOKIE not in client.cookies


def test_right_password_sets_cookie_and_opens_the_dashboard(client):
    r = login(client)
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    set_cookie = r.headers["set-cookie"]
    assert set_cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in set_cookie and "samesite=lax" in set_cookie.lower() and "Secure" not in set_cookie
    page = client.get("/")
    assert page.status_code == 200 and 'id="dash-map"' in page.text and 'data-kpi="overdue"' in page.text
    assert 'src="/static/vendor/echarts/echarts.min.js"' in page.text and 'src="/static/js/dashboard.js"' in page.text
    page = client.get("/map")
    assert page.status_code == 200
    html = page.text
    assert DISPLAY_NAME in html and CENTRE_NAME in html
    assert "联动" in html and 'href="/lang/en?next=/map"' in html
    assert "管理员" in html and "派遣员" in html  # roles, in Chinese
    assert 'action="/logout"' in html
    assert 'src="/static/vendor/leaflet/leaflet.js"' in html and 'src="/static/js/map.js"' in html
    assert 'id="map"' in html and 'data-grid-min-zoom="15"' in html
    assert "<script>" not in html and "http://" not in html and "https://" not in html  # no CDN, no inline
    # the API accepts the same cookie
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["username"] == USERNAME
    assert client.get("/api/v1/areas/summary").json()["town"] == 2


def test_secure_cookie_when_configured(data):
    app = make_app(data)
    app.state.settings = data.settings.model_copy(update={"cookie_secure": True})
    with TestClient(app, base_url="https://testserver") as c:
        r = login(c)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_map_needs_login(client):
    for path in ("/", "/map", "/cases", "/cases/7"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == f"/login?next={path}"


def test_login_returns_to_a_local_next(client):
    assert login(client, next_="/cases/12?tab=events").headers["location"] == "/cases/12?tab=events"


@pytest.mark.parametrize("evil", [
    "//evil.example", "https://evil.example", "http://evil.example/x", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "evil.example", "/%0d%0aLocation:x", "///evil.example",
])
def test_next_open_redirects_are_ignored(client, evil):
    r = login(client, next_=evil)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location
    client.cookies.clear()
    page = client.get(f"/login?next={evil}")
    assert "evil.example" not in page.text


def test_safe_next():
    assert safe_next("/") == "/"
    assert safe_next("/a/b?c=1#d") == "/a/b?c=1#d"
    for bad in (None, "", "//x", "/\\x", "https://x", "x", "/a\nb", " /a"):
        assert safe_next(bad) == "/"


def test_logged_in_user_skips_the_login_form(client):
    login(client)
    r = client.get("/login?next=/x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/x"


def test_logout_revokes_the_session(client, data):
    login(client)
    secret = client.cookies[SESSION_COOKIE]
    assert client.get("/api/v1/me").status_code == 200
    r = client.post("/logout", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert SESSION_COOKIE not in client.cookies
    # the old cookie, replayed, opens nothing
    client.cookies.set(SESSION_COOKIE, secret)
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").status_code == 401
    with session_factory(data.url)() as s:
        assert s.scalar(select(AuditEntry.actor).where(AuditEntry.action == "logout")) == USERNAME
        assert s.scalar(select(AuthToken.revoked_at)) is not None


def test_logout_without_session_just_redirects(client):
    r = client.post("/logout", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_own_static_files_are_served(client):
    assert client.get("/static/js/map.js").status_code == 200
    assert client.get("/static/css/app.css").status_code == 200


def test_tile_url_reaches_the_page_and_the_policy(data):
    app = make_app(data)
    app.state.settings = data.settings.model_copy(
        update={"tile_url": "https://{s}.tiles.example.org/{z}/{x}/{y}.png"})
    with TestClient(app) as c:
        login(c)
        r = c.get("/map")
    assert 'data-tile-url="https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in r.text
    assert "img-src 'self' data: blob: https://*.tiles.example.org;" in r.headers["content-security-policy"]


def test_language_switch_keeps_the_page_and_refuses_foreign_targets(client):
    login(client)
    r = client.get("/lang/en?next=/cases", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/cases"
    assert "liandong_lang=en" in r.headers["set-cookie"]
    page = client.get("/cases")
    assert 'lang="en"' in page.text and "My queue" in page.text and "我的待办" not in page.text
    assert client.get("/lang/zh?next=//evil.example", follow_redirects=False).headers["location"] == "/"
    assert "我的待办" in client.get("/cases").text
    assert client.get("/lang/xx?next=/", follow_redirects=False).headers.get("set-cookie") is None


def test_language_switch_keeps_the_query_of_the_page(client):
    """A citizen following a report keeps the lookup (number and key) across the switch; the target stays local."""
    page = client.get("/report/track?number=310112-20261127-0000010&key=k%26y")
    link = 'href="/lang/en?next=/report/track%3Fnumber%3D310112-20261127-0000010%26key%3Dk%2526y"'
    assert link in page.text
    r = client.get("/lang/en?next=/report/track%3Fnumber%3D310112-20261127-0000010%26key%3Dk%2526y",
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/report/track?number=310112-20261127-0000010&key=k%26y"
    english = client.get(r.headers["location"])
    assert 'value="310112-20261127-0000010"' in english.text and 'value="k&amp;y"' in english.text
    assert "Progress of your report" in english.text
    # a query cannot make the switch leave the site: the target is this page's own path
    tricky = client.get("/report/track?x=//evil.example").text
    assert 'href="/lang/zh?next=/report/track%3Fx%3D//evil.example"' in tricky
    assert client.get("/lang/zh?next=/report/track%3Fx%3D//evil.example",
                      follow_redirects=False).headers["location"] == "/report/track?x=//evil.example"


def test_case_page_is_a_shell_for_the_api(client):
    login(client)
    page = client.get("/cases/42")
    assert page.status_code == 200 and 'data-case-id="42"' in page.text and 'src="/static/js/case.js"' in page.text
    assert client.get("/cases/0").status_code == 422


def test_every_state_action_and_channel_has_both_labels():
    from liandong.cases.actions import NAMES as ACTIONS
    from liandong.cases.states import CHANNELS, STATES
    from liandong.web import i18n

    assert set(ACTIONS) <= set(i18n.ACTION_LABELS) and set(STATES) <= set(i18n.STATE_LABELS)
    assert set(CHANNELS) <= set(i18n.CHANNEL_LABELS)
    for table in (i18n.ACTION_LABELS, i18n.STATE_LABELS, i18n.CHANNEL_LABELS, i18n.MESSAGES):
        assert all(zh and en for zh, en in table.values())


def test_phone_app_has_the_language_switch_logout_and_a_nav_entry_for_grid_workers(client, data):
    login(client)  # an admin and dispatcher, no grid worker: no phone app in the navigation
    assert 'href="/m/"' not in client.get("/map").text
    page = client.get("/m/")
    assert 'href="/lang/en?next=/m/"' in page.text and 'action="/logout"' in page.text
    with session_factory(data.url)() as s:
        auth_service.create_user(s, username="grid_wu", password=PASSWORD, unit_code="C310112", roles=["inspector"])
        s.commit()
    client.post("/logout")
    client.post("/login", data={"username": "grid_wu", "password": PASSWORD})
    assert '<a href="/m/">网格员端</a>' in client.get("/map").text
    assert '<a href="/m/" aria-current="page">' not in client.get("/map").text
    client.cookies.set("liandong_lang", "en")
    assert "Grid worker app" in client.get("/cases").text and "Log out" in client.get("/m/").text


def test_service_worker_cache_is_named_after_the_assets(client, tmp_path):
    """An installed phone keeps its app shell until the service worker changes: the worker the server
    renders carries a version that moves with every static file (and the package version)."""
    sw = client.get("/m/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["cache-control"] == "no-cache" and sw.headers["service-worker-allowed"] == "/m/"
    assert f'const VERSION = "{asset_version()}";' in sw.text and "__ASSET_VERSION__" not in sw.text
    (tmp_path / "js").mkdir()
    script = tmp_path / "js" / "app.js"
    script.write_text("one")
    seen = {asset_version(tmp_path)}
    script.write_text("other")  # changed contents
    seen.add(asset_version(tmp_path))
    (tmp_path / "js" / "more.js").write_text("")  # a new file
    seen.add(asset_version(tmp_path))
    assert len(seen) == 3 and asset_version(tmp_path) in seen  # and stable while nothing changes
