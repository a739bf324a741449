"""CAP 1.2 warnings out and in (issue 11, points 4–5): every issued document validated against the OASIS schema
(Alert, Update, Cancel, exercise, several towns, signed), GB/T 35965.1 identifiers and the same-second sequence,
the Atom feed of current alerts; every shared sample accepted and every negative refused with the element at
fault; DTDs, external entities and entity expansion refused with nothing fetched; duplicates stored once,
Updates and Cancels applied; the size limit; polling a real local HTTP server; the XML signature verified and a
tampered document failing. Database tests run on SQLite and PostgreSQL (``case_world``)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import text

from liandong.app import create_app
from liandong.auth.service import create_user
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.emergency.cap import poll, safe, signing, xsd
from liandong.emergency.cap.errors import CapRefused
from tests.caseworld import WEST_POINT
from tests.factories import EAST, PASSWORD, WEST

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cap"
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "src" / "liandong" / "emergency" / "cap" / "schema"
SAMPLES = sorted(p for folder in ("google-cap-library", "oasiscap") for p in (SHARED / "samples" / folder).glob("*"))
NEGATIVES = {  # file → (code, element): what each one breaks (shared/data/cap/PROVENANCE.md, comments in the files)
    "invalid.cap.xml": ("cap_schema", "info"),  # no <scope>: the schema expects it before <info>
    "noaa_errors.cap.xml": ("cap_schema", "urgency"),  # empty urgency, severity, certainty (1.1)
    "canada_errors.cap.xml": ("cap_invalid", "references"),  # an Update with zero references
    "xxe_attack_DO_NOT_RESOLVE_ENTITIES.cap.xml": ("cap_dtd_forbidden", "!DOCTYPE"),
}
ID_FORMAT = re.compile(r"^31011200000000_\d{14}_\d$")
T0 = dt.datetime(2026, 7, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing
STORM = {"title": "台风“海葵”影响全区", "category": "natural", "type": "台风", "grade": 2, "warning_level": 2,
         "lon": WEST_POINT[0], "lat": WEST_POINT[1], "area_codes": [WEST, EAST]}


def official_schema() -> etree.XMLSchema:
    """The shipped 1.2 schema read directly, not through the code under test."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "CAP-v1.2.xsd")))


def assert_valid(document: bytes) -> etree._Element:
    root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
    schema = official_schema()
    assert schema.validate(root), schema.error_log
    return root


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        for username, unit, role in (("commander", "C", "commander"), ("west_commander", f"S-{WEST}", "commander")):
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=[role])
    return case_world


class Desk:
    def __init__(self, url: str, now: dt.datetime = T0, **settings):
        self.now = now
        self.settings = Settings(database_url=url, index_check_seconds=0, public_read_limit="10000/minute",
                                 **settings)
        self.client = TestClient(create_app(self.settings, clock=lambda: self.now))
        self._headers: dict[str, dict] = {}

    def headers(self, user: str) -> dict:
        if user not in self._headers:
            r = self.client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._headers[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._headers[user]

    def incident(self, **body) -> int:
        r = self.client.post("/api/v1/incidents", json={**STORM, **body}, headers=self.headers("commander"))
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def warn(self, incident_id: int, msg_type: str = "Alert", user: str = "commander", **body):
        payload = {"msg_type": msg_type, "headline": f"台风橙色预警（{msg_type}）",
                   "description": "预计今天夜里台风影响本区，风力10级。",
                   "instruction": "请减少外出，加固门窗。", "expires": (self.now + dt.timedelta(hours=6)).isoformat(),
                   **body}
        return self.client.post(f"/api/v1/incidents/{incident_id}/warnings", json=payload, headers=self.headers(user))

    def document(self, identifier: str) -> bytes:
        r = self.client.get(f"/cap/alerts/{identifier}.xml")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/cap+xml")
        return r.content

    def feed(self, **params) -> list[str]:
        r = self.client.get("/cap/alerts.atom", params=params)
        assert r.status_code == 200, r.text
        root = etree.fromstring(r.content)
        assert root.tag == f"{ATOM}feed"
        links = [e.find(f"{ATOM}link").get("href") for e in root.findall(f"{ATOM}entry")]
        return [link.rsplit("/", 1)[1].removesuffix(".xml") for link in links]

    def upload(self, data: bytes, user: str = "admin", content_type: str = "application/xml"):
        return self.client.post("/api/v1/cap/import", content=data, headers={**self.headers(user),
                                                                             "Content-Type": content_type})


# --- out ----------------------------------------------------------------------------------------------------

def test_published_addresses_follow_the_configured_public_url_not_the_request(world):
    """A document is signed and kept with its address: issued through an internal host, it still names the site's
    public address, as does the feed."""
    desk = Desk(world, public_base_url="https://yjxx.example.gov.cn/")
    iid = desk.incident()
    alert = desk.warn(iid)
    identifier = alert.json()["identifier"]
    assert alert.json()["url"] == f"https://yjxx.example.gov.cn/cap/alerts/{identifier}.xml"
    root = assert_valid(desk.document(identifier))
    assert root.find(f"{CAP}info").findtext(f"{CAP}web") == alert.json()["url"]
    atom = desk.client.get("/cap/alerts.atom").text
    assert "https://yjxx.example.gov.cn/cap/alerts.atom" in atom and "http://testserver" not in atom


def test_alert_update_cancel_documents_validate_and_the_feed_follows(world):
    desk = Desk(world)
    iid = desk.incident()
    alert = desk.warn(iid)
    assert alert.status_code == 201, alert.text
    first = alert.json()["identifier"]
    assert ID_FORMAT.match(first) and len(first) == 31
    assert first.split("_")[1] == "20260701100000"  # Beijing time
    assert alert.json()["url"].endswith(f"/cap/alerts/{first}.xml")
    root = assert_valid(desk.document(first))
    assert root.findtext(f"{CAP}sent") == "2026-07-01T10:00:00+08:00"
    assert root.findtext(f"{CAP}status") == "Actual" and root.findtext(f"{CAP}msgType") == "Alert"
    assert root.find(f"{CAP}references") is None
    info = root.find(f"{CAP}info")
    assert info.findtext(f"{CAP}language") == "zh-CN" and info.findtext(f"{CAP}category") == "Met"
    assert info.findtext(f"{CAP}event") == "台风"
    judged = [info.findtext(f"{CAP}{n}") for n in ("urgency", "severity", "certainty")]
    assert judged == ["Immediate", "Severe", "Likely"]
    assert info.findtext(f"{CAP}expires") == "2026-07-01T16:00:00+08:00"
    params = {p.findtext(f"{CAP}valueName"): p.findtext(f"{CAP}value") for p in info.findall(f"{CAP}parameter")}
    assert params["事件分级"] == "Ⅱ级（重大）" and params["预警级别"] == "橙色预警（二级）" and "响应级别" not in params
    area = info.find(f"{CAP}area")
    assert area.findtext(f"{CAP}areaDesc") == "西镇、东街道"
    codes = [(g.findtext(f"{CAP}valueName"), g.findtext(f"{CAP}value")) for g in area.findall(f"{CAP}geocode")]
    assert codes == [("GB/T 2260", "310112"), ("GB/T 10114", WEST), ("GB/T 10114", EAST)]
    polygons = [p.text.split() for p in area.findall(f"{CAP}polygon")]
    assert polygons and all(len(p) >= 4 and p[0] == p[-1] for p in polygons)
    lat, lon = map(float, polygons[0][0].split(","))
    assert 31.0 < lat < 31.2 and 121.2 < lon < 121.4  # lat,lon order
    assert first in desk.feed()

    desk.now = T0 + dt.timedelta(minutes=30)
    update = desk.warn(iid, "Update", headline="台风红色预警", expires=(T0 + dt.timedelta(hours=8)).isoformat())
    assert update.status_code == 201, update.text
    second = update.json()["identifier"]
    root = assert_valid(desk.document(second))
    assert root.findtext(f"{CAP}references") == f"31011200000000,{first},2026-07-01T10:00:00+08:00"
    feed = desk.feed()
    assert second in feed and first not in feed

    desk.now = T0 + dt.timedelta(hours=1)
    cancel = desk.warn(iid, "Cancel", headline="解除台风预警", expires=None)
    assert cancel.status_code == 201, cancel.text
    third = cancel.json()["identifier"]
    root = assert_valid(desk.document(third))
    assert root.findtext(f"{CAP}references").split() == [
        f"31011200000000,{first},2026-07-01T10:00:00+08:00", f"31011200000000,{second},2026-07-01T10:30:00+08:00"]
    assert root.find(f"{CAP}info").findtext(f"{CAP}responseType") == "AllClear"
    assert not {first, second, third} & set(desk.feed())

    listed = desk.client.get(f"/api/v1/incidents/{iid}/warnings", headers=desk.headers("commander")).json()["items"]
    assert [(w["identifier"], w["msg_type"], w["state"]) for w in listed] == [
        (third, "Cancel", "cancel"), (second, "Update", "superseded"), (first, "Alert", "superseded")]
    assert listed[2]["incident"]["id"] == iid and listed[2]["areas"]["type"] == "FeatureCollection"
    assert listed[2]["areas"]["features"][0]["geometry"]["type"] == "Polygon"
    every = desk.client.get("/api/v1/cap/issued", headers=desk.headers("commander")).json()
    assert {first, second, third} <= {w["identifier"] for w in every["items"]}
    log = desk.client.get(f"/api/v1/incidents/{iid}/log", headers=desk.headers("commander")).json()
    assert [(e["kind"], e["payload"]["msg_type"]) for e in log if e["kind"] == "warning"] == [
        ("warning", "Alert"), ("warning", "Update"), ("warning", "Cancel")]


def test_update_or_cancel_needs_an_alert_and_a_new_alert_waits_for_the_old_one(world):
    desk = Desk(world, T0 + dt.timedelta(days=1))
    iid = desk.incident()
    for msg_type in ("Update", "Cancel"):
        r = desk.warn(iid, msg_type)
        assert (r.status_code, r.json()["code"]) == (409, "no_alert")
    assert desk.warn(iid).status_code == 201
    desk.now += dt.timedelta(seconds=5)
    again = desk.warn(iid)
    assert (again.status_code, again.json()["code"]) == (409, "warning_in_force")
    assert desk.warn(iid, "Cancel", expires=None).status_code == 201
    desk.now += dt.timedelta(seconds=5)
    late = desk.warn(iid, "Update")
    assert (late.status_code, late.json()["code"]) == (409, "warning_cancelled")
    assert desk.warn(iid).status_code == 201  # a new series
    past = desk.warn(iid, "Update", expires=(desk.now - dt.timedelta(hours=1)).isoformat())
    assert (past.status_code, past.json()["code"]) == (422, "expires_in_past")
    missing = desk.warn(iid, "Update", expires=None)
    assert (missing.status_code, missing.json()["code"]) == (422, "missing_field")


def test_only_those_commanding_the_incident_issue(world):
    desk = Desk(world, T0 + dt.timedelta(days=2))
    iid = desk.incident()
    assert desk.warn(iid, user="dispatcher").json()["code"] == "role_needed"
    town = desk.warn(iid, user="west_commander")  # the storm touches both towns: the district commands it
    assert (town.status_code, town.json()["code"]) == (403, "not_commander")
    assert desk.warn(10**6).status_code == 404


def test_exercise_warnings_say_so_and_stay_out_of_the_real_feed(world):
    desk = Desk(world, T0 + dt.timedelta(days=3))
    iid = desk.incident(exercise=True, title="防台演练", area_codes=[WEST], warning_level=None, grade=3)
    r = desk.warn(iid)
    assert r.status_code == 201, r.text
    identifier = r.json()["identifier"]
    root = assert_valid(desk.document(identifier))
    assert root.findtext(f"{CAP}status") == "Exercise" and root.findtext(f"{CAP}note")
    info = root.find(f"{CAP}info")
    assert [info.findtext(f"{CAP}{n}") for n in ("urgency", "severity")] == ["Expected", "Moderate"]  # from grade Ⅲ
    assert [g.findtext(f"{CAP}value") for g in info.find(f"{CAP}area").findall(f"{CAP}geocode")] == ["310112", WEST]
    assert identifier not in desk.feed()
    assert identifier in desk.feed(status="Exercise")
    assert desk.client.get("/cap/alerts.atom", params={"status": "Draft"}).status_code == 422


def test_identifiers_number_the_messages_of_one_second(world):
    desk = Desk(world, T0 + dt.timedelta(days=4))
    incidents = [desk.incident(title=f"燃气泄漏{i}", category="accident", type="燃气泄漏", area_codes=[])
                 for i in range(3)]
    ids = [desk.warn(i).json()["identifier"] for i in incidents]
    assert [i[-1] for i in ids] == ["0", "1", "2"] and len({i[:-1] for i in ids}) == 1
    assert all(ID_FORMAT.match(i) for i in ids)
    root = assert_valid(desk.document(ids[0]))
    assert root.find(f"{CAP}info").findtext(f"{CAP}category") == "Safety"
    assert root.find(f"{CAP}info").find(f"{CAP}area").findall(f"{CAP}polygon")  # the incident's own grid
    desk.now += dt.timedelta(seconds=1)
    assert desk.warn(desk.incident(area_codes=[EAST])).json()["identifier"].endswith("_0")


def test_expired_warnings_leave_the_feed(world):
    desk = Desk(world, T0 + dt.timedelta(days=5))
    expires = (T0 + dt.timedelta(days=5, hours=1)).isoformat()
    identifier = desk.warn(desk.incident(), expires=expires).json()["identifier"]
    assert identifier in desk.feed()
    desk.now += dt.timedelta(hours=2)
    assert identifier not in desk.feed()
    assert desk.client.get("/cap/alerts/31011200000000_20000101000000_0.xml").status_code == 404


def test_signed_documents_verify_and_a_tampered_one_fails(world, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from signxml.exceptions import InvalidSignature

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "liandong test CAP signer")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2036, 1, 1, tzinfo=dt.UTC)).sign(key, hashes.SHA256()))
    key_path, cert_path = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(cert_pem)
    desk = Desk(world, T0 + dt.timedelta(days=6), cap_signing_key=str(key_path), cap_signing_cert=str(cert_path))
    r = desk.warn(desk.incident())
    assert r.status_code == 201, r.text
    document = desk.document(r.json()["identifier"])
    root = assert_valid(document)
    assert root[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    signed = signing.verify(document, cert_pem)
    assert signed.findtext(f"{CAP}identifier") == r.json()["identifier"]
    tampered = document.replace("台风橙色预警".encode(), "一切正常".encode())
    assert tampered != document
    with pytest.raises(InvalidSignature):
        signing.verify(tampered, cert_pem)


# --- in -----------------------------------------------------------------------------------------------------

def test_every_sample_is_accepted_once_and_every_negative_refused_with_its_element(world):
    desk = Desk(world)
    assert len(SAMPLES) >= 20
    keys: set[tuple] = set()
    for path in SAMPLES:
        root = etree.fromstring(path.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True))
        key = tuple(root.findtext(f"{{{etree.QName(root).namespace}}}{n}") for n in ("sender", "identifier", "sent"))
        first = desk.upload(path.read_bytes())
        # no_optional_fields.cap.xml is earthquake.cap.xml stripped: the same message (sender, identifier, sent)
        assert first.status_code == (200 if key in keys else 201), f"{path.name}: {first.text}"
        keys.add(key)
        again = desk.upload(path.read_bytes())
        assert again.status_code == 200 and again.json() == {**first.json(), "duplicate": True}, path.name
    for name, (code, element) in NEGATIVES.items():
        r = desk.upload((SHARED / "samples" / "negative" / name).read_bytes())
        assert r.status_code == 400, f"{name}: {r.text}"
        body = r.json()
        assert (body["code"], body["params"]["element"]) == (code, element), f"{name}: {body}"
        assert body["detail"]
    listed = desk.client.get("/api/v1/cap/received", params={"limit": 1000}, headers=desk.headers("admin")).json()
    assert listed["total"] >= len(keys)
    with unit_of_work(world) as s:  # each message stored is audited once, with who imported it
        audited = s.execute(text("SELECT actor, detail FROM audit_log WHERE action = 'cap_imported'")).all()
    mine = [json.loads(d) if isinstance(d, str) else d for a, d in audited if a == "admin"]
    assert {(d["sender"], d["identifier"]) for d in mine} >= {(k[0], k[1]) for k in keys}
    sent = [item["sent"] for item in listed["items"]]
    assert sent == sorted(sent, reverse=True)
    australia = next(i for i in listed["items"] if i["sender"] == "webmaster@rfs.nsw.gov.au")
    circle = next(f for f in australia["areas"]["features"] if f["geometry"] and f["geometry"]["type"] == "Point")
    assert circle["geometry"]["coordinates"] == [147.0598, -35.3888] and circle["properties"]["radius_km"] == 25.0
    one = desk.client.get(f"/api/v1/cap/received/{australia['id']}", headers=desk.headers("admin")).json()
    assert "alert xmlns" in one["document"] and one["infos"][0]["event"]


def test_import_needs_the_centre_or_an_admin_and_an_xml_body(world):
    desk = Desk(world)
    data = SAMPLES[0].read_bytes()
    assert desk.upload(data, user="dispatcher").json()["code"] == "role_needed"
    assert desk.upload(data, content_type="application/json").status_code == 415
    assert desk.client.post("/api/v1/cap/import", content=data).status_code == 401


def alert_doc(identifier: str, *, sender: str = "cap@example.org", msg_type: str = "Alert", sent: str,
              references: str | None = None, expires: str = "2030-01-01T00:00:00+00:00", extra: str = "") -> bytes:
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>{sender}</sender><sent>{sent}</sent><status>Actual</status>
  <msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><category>Met</category><event>Flood</event><urgency>Expected</urgency><severity>Moderate</severity>
    <certainty>Likely</certainty><expires>{expires}</expires><headline>Flood {identifier}{extra}</headline>
    <area><areaDesc>River</areaDesc><polygon>31.1,121.3 31.2,121.3 31.2,121.4 31.1,121.3</polygon></area></info>
</alert>""".encode()


def test_updates_and_cancels_apply_to_what_they_reference_in_any_order(world):
    desk = Desk(world, dt.datetime(2026, 8, 1, tzinfo=dt.UTC))
    sent = ["2026-08-01T08:00:00+08:00", "2026-08-01T09:00:00+08:00", "2026-08-01T10:00:00+08:00"]
    a = desk.upload(alert_doc("flood-a", sent=sent[0]))
    assert a.status_code == 201, a.text
    u = desk.upload(alert_doc("flood-u", sent=sent[1], msg_type="Update",
                              references=f"cap@example.org,flood-a,{sent[0]}"))
    assert u.status_code == 201, u.text
    states = lambda: {i["identifier"]: (i["state"], i["superseded_by"])  # noqa: E731
                      for i in desk.client.get("/api/v1/cap/received", params={"limit": 1000},
                                               headers=desk.headers("admin")).json()["items"]}
    assert states()["flood-a"] == ("updated", u.json()["id"]) and states()["flood-u"][0] == "active"
    intruder = desk.upload(alert_doc("evil", sender="other@example.org", sent=sent[2], msg_type="Cancel",
                                     references=f"cap@example.org,flood-u,{sent[1]}"))
    assert intruder.status_code == 201 and states()["flood-u"][0] == "active"  # another sender cancels nothing
    c = desk.upload(alert_doc("flood-c", sent=sent[2], msg_type="Cancel",
                              references=f"cap@example.org,flood-a,{sent[0]} cap@example.org,flood-u,{sent[1]}"))
    assert states()["flood-u"] == ("cancelled", c.json()["id"]) and states()["flood-c"][0] == "notice"
    assert desk.upload(alert_doc("flood-u2", sent=sent[2], msg_type="Update",
                                 references=f"cap@example.org,flood-u,{sent[1]}")).status_code == 201
    assert states()["flood-u"][0] == "cancelled"  # an Update leaves a cancelled message cancelled
    # a Cancel that arrives before its Alert
    early = desk.upload(alert_doc("late-c", sent=sent[2], msg_type="Cancel",
                                  references=f"cap@example.org,late-a,{sent[0]}"))
    assert early.status_code == 201
    assert desk.upload(alert_doc("late-a", sent=sent[0])).status_code == 201
    assert states()["late-a"] == ("cancelled", early.json()["id"])
    active = desk.client.get("/api/v1/cap/received", params={"state": "active", "limit": 1000},
                             headers=desk.headers("admin")).json()["items"]
    assert not {"flood-a", "flood-u", "late-a"} & {i["identifier"] for i in active}
    feature = next(i for i in active if i["identifier"] == "flood-u2")["areas"]["features"][0]
    assert feature["geometry"] == {"type": "Polygon", "coordinates": [[[121.3, 31.1], [121.3, 31.2], [121.4, 31.2],
                                                                      [121.3, 31.1]]]}


def test_received_alerts_expire(world):
    desk = Desk(world, dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    r = desk.upload(alert_doc("short", sent="2026-09-01T08:00:00+08:00", expires="2026-09-01T09:00:00+08:00"))
    assert r.status_code == 201

    def ids(state):
        return {i["identifier"] for i in desk.client.get("/api/v1/cap/received", params={"state": state, "limit": 1000},
                                                          headers=desk.headers("admin")).json()["items"]}

    desk.now = dt.datetime(2026, 9, 1, 0, 30, tzinfo=dt.UTC)
    assert "short" in ids("active") and "short" not in ids("expired")
    desk.now = dt.datetime(2026, 9, 1, 2, tzinfo=dt.UTC)
    assert "short" in ids("expired") and "short" not in ids("active")
    assert desk.client.get("/api/v1/cap/received", params={"state": "bogus"},
                           headers=desk.headers("admin")).status_code == 422


@pytest.mark.parametrize("doc,reason", [
    (alert_doc("x", sent="2026-08-01T08:00:00+08:00", msg_type="Update"), "references"),
    (alert_doc("x y", sent="2026-08-01T08:00:00+08:00"), "identifier"),
    (alert_doc("x", sent="2026-08-01T08:00:00+08:00").replace(b"31.2,121.4 31.1,121.3", b"31.2,121.4 31.3,121.3"),
     "polygon"),
    (alert_doc("x", sent="2026-08-01T08:00:00+08:00").replace(b"31.1,121.3 31.2", b"95.1,121.3 31.2"), "polygon"),
    (alert_doc("x", sent="2026-08-01T08:00:00+08:00", msg_type="Update", references="a,b"), "references"),
    (alert_doc("x", sent="2026-08-01T08:00:00+08:00").replace(b"<status>Actual", b"<status>Real"), "status"),
    (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.0'/>", "alert"),
    (b"<alert", None),
    *[(alert_doc("x", sent="2026-08-01T08:00:00+08:00").replace(
        b"</polygon>", b"</polygon><circle>31.1,121.3 " + radius + b"</circle>"), "circle")
      for radius in (b"nan", b"inf", b"1e999", b"-1")],
], ids=["update-without-references", "space-in-identifier", "open-polygon", "latitude-out-of-range",
        "bad-reference", "unknown-status", "cap-1.0", "not-xml", "circle-nan", "circle-inf", "circle-overflow",
        "circle-negative"])
def test_invalid_documents_are_refused_naming_the_element(world, doc, reason):
    r = Desk(world).upload(doc)
    assert r.status_code == 400, r.text
    assert r.json()["params"].get("element") == reason, r.json()


def test_the_size_limit(world):
    desk = Desk(world, cap_max_bytes=3000)
    big = alert_doc("big", sent="2026-08-01T08:00:00+08:00", extra="x" * 4000)
    r = desk.upload(big)
    assert (r.status_code, r.json()["code"]) == (413, "cap_too_large")
    assert desk.upload(alert_doc("small", sent="2026-08-01T08:00:00+08:00")).status_code == 201


# --- hostile XML --------------------------------------------------------------------------------------------

class Recorder(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` (path → bytes) and records every request, so a test can prove nothing was fetched."""

    files: dict[str, bytes] = {}
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).seen.append(self.path)
        body = type(self).files.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"files": {}, "seen": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def hostile(base: str, secret: Path) -> dict[str, bytes]:
    body = alert_doc("h", sent="2026-08-01T08:00:00+08:00").split(b"\n", 1)[1]
    head = b'<?xml version="1.0"?>\n'
    return {
        "external entity": head + f'<!DOCTYPE alert [<!ENTITY xxe SYSTEM "{base}/entity">]>\n'.encode()
        + body.replace(b"<event>Flood", b"<event>Flood&xxe;"),
        "file entity": head + f'<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'.encode()
        + body.replace(b"<event>Flood", b"<event>&xxe;"),
        "external DTD": head + f'<!DOCTYPE alert SYSTEM "{base}/x.dtd">\n'.encode() + body,
        "parameter entity": head + f'<!DOCTYPE alert [<!ENTITY % p SYSTEM "{base}/p.dtd"> %p;]>\n'.encode() + body,
        "billion laughs": head + b'<!DOCTYPE alert [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        + b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>\n'
        + body.replace(b"<event>Flood", b"<event>&d;"),
        "lower-case doctype": head + f'<!doctype alert SYSTEM "{base}/y.dtd">\n'.encode() + body,
    }


def test_dtds_and_entities_are_refused_and_nothing_is_fetched(world, server, tmp_path):
    base, handler = server
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    handler.files = {"/x.dtd": b'<!ENTITY leak "LEAKED">', "/entity": b"LEAKED", "/p.dtd": b'<!ENTITY q "LEAKED">'}
    desk = Desk(world)
    for name, doc in hostile(base, secret).items():
        r = desk.upload(doc)
        assert r.status_code == 400, f"{name}: {r.text}"
        assert r.json()["code"] == "cap_dtd_forbidden", name
    shared_xxe = (SHARED / "samples" / "negative" / "xxe_attack_DO_NOT_RESOLVE_ENTITIES.cap.xml").read_bytes()
    assert desk.upload(shared_xxe.replace(b"http://localhost:8080", base.encode())).status_code == 400
    # the parser alone, without the DOCTYPE check in front of it, resolves and fetches nothing either
    for name, doc in hostile(base, secret).items():
        try:
            root = etree.fromstring(doc, safe.parser())
        except etree.XMLSyntaxError:
            continue
        text = etree.tostring(root)
        assert b"LEAKED" not in text and b"TOP-SECRET" not in text and b"hahaha" not in text, name
    assert handler.seen == []


def test_parse_refuses_wide_encodings_and_entity_nodes():
    with pytest.raises(CapRefused) as refused:
        safe.parse("<alert/>".encode("utf-16"))
    assert refused.value.code == "cap_encoding"
    with pytest.raises(CapRefused):
        safe.parse(b"   ")
    # a DOCTYPE written in UTF-7 slips past a byte search: the declared encoding is refused first
    utf7 = b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE a +AFs-+ADw-!ENTITY x SYSTEM "file:///etc/passwd"+AD4-+AF0-+AD4-<a>&x;</a>'
    with pytest.raises(CapRefused) as refused:
        safe.parse(utf7)
    assert refused.value.code == "cap_encoding"
    assert safe.parse(b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>').text == "\xe9"
    # the last wall alone: a tree holding an entity reference (as a parser keeping them would give) is refused
    with pytest.raises(CapRefused) as refused:
        entity_root = etree.fromstring(b"<a/>")
        entity_root.append(etree.Entity("x"))
        safe.refuse_entities(entity_root)
    assert refused.value.code == "cap_entity_forbidden"


# --- polling ------------------------------------------------------------------------------------------------

def atom_feed(base: str, paths: list[str], inline: bytes | None = None) -> bytes:
    entries = "".join(f'<entry><id>{p}</id><title>t</title><updated>2026-08-01T00:00:00Z</updated>'
                      f'<link rel="alternate" type="application/cap+xml" href="{p}"/></entry>' for p in paths)
    if inline:
        entries += ("<entry><id>inline</id><title>t</title><updated>2026-08-01T00:00:00Z</updated>"
                    f"<content type=\"application/cap+xml\">{inline.split(b'?>', 1)[1].decode()}</content></entry>")
    return f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><id>{base}/feed</id><title>f</title>' \
           f'<updated>2026-08-01T00:00:00Z</updated>{entries}</feed>'.encode()


def test_polling_a_feed_over_http_imports_each_document_once(world, server):
    base, handler = server
    docs = {f"poll-{i}.xml": alert_doc(f"poll-{i}", sender="feed@example.org", sent="2026-08-01T08:00:00+08:00")
            for i in range(3)}
    handler.files = {f"/cap/{name}": doc for name, doc in docs.items()}
    handler.files["/cap/bad.xml"] = (SHARED / "samples" / "negative" / "invalid.cap.xml").read_bytes()
    inline = alert_doc("inline-1", sender="feed@example.org", sent="2026-08-01T08:00:00+08:00")
    relative = [f"cap/{name}" for name in docs] + ["/cap/bad.xml"]
    handler.files["/feed.atom"] = atom_feed(base, relative, inline)
    settings = Settings(database_url=world, cap_poll_timeout_seconds=5)
    now = lambda: dt.datetime(2026, 8, 1, tzinfo=dt.UTC)  # noqa: E731
    summary = poll.poll(f"{base}/feed.atom", lambda: unit_of_work(world), settings, now)
    assert (summary["entries"], summary["imported"], summary["duplicates"]) == (5, 4, 0)
    assert [(r["code"], r["element"]) for r in summary["refused"]] == [("cap_schema", "info")]
    fetched = len(handler.seen)
    again = poll.poll(f"{base}/feed.atom", lambda: unit_of_work(world), settings, now)
    assert again["imported"] == 0 and again["known"] == 3 and again["duplicates"] == 1
    assert len(handler.seen) == fetched + 2  # the feed, and the refused document again; known ones not fetched
    handler.files["/big.atom"] = atom_feed(base, ["x" * 2000] * 10)
    with pytest.raises(Exception, match="larger than|bytes"):
        poll.poll(f"{base}/big.atom", lambda: unit_of_work(world), Settings(database_url=world, cap_max_bytes=1000),
                  now)


def test_the_cli_polls_and_imports(world, server, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from liandong.cli import app
    from liandong.config import get_settings

    base, handler = server
    handler.files = {"/one.xml": alert_doc("cli-feed", sender="cli@example.org", sent="2026-08-02T08:00:00+08:00")}
    monkeypatch.setenv("LIANDONG_DATABASE_URL", world)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        polled = runner.invoke(app, ["cap", "poll", f"{base}/one.xml"])
        assert polled.exit_code == 0, polled.output
        assert '"imported": 1' in polled.output
        bad = tmp_path / "bad.xml"
        bad.write_bytes((SHARED / "samples" / "negative" / "canada_errors.cap.xml").read_bytes())
        imported = runner.invoke(app, ["cap", "import", str(SAMPLES[0]), str(bad)])
        assert imported.exit_code == 1
        assert "references" in imported.output
        missing = runner.invoke(app, ["cap", "poll", f"{base}/nothing.atom"])
        assert missing.exit_code == 2
    finally:
        get_settings.cache_clear()


def test_the_app_polls_configured_feeds_in_the_background(world, server):
    import time

    base, handler = server
    handler.files = {"/bg.xml": alert_doc("background-1", sender="bg@example.org", sent="2026-08-03T08:00:00+08:00")}
    desk = Desk(world, cap_feed_urls=f"{base}/bg.xml", cap_poll_seconds=0.2, sweep_seconds=0)
    with desk.client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            items = desk.client.get("/api/v1/cap/received", params={"limit": 1000},
                                    headers=desk.headers("admin")).json()["items"]
            if any(i["identifier"] == "background-1" for i in items):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the background poller stored nothing")
    assert "/bg.xml" in handler.seen


def test_rss_items_and_bare_documents_count_as_feeds():
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
      <item><title>a</title><link>alerts/a.xml</link></item>
      <item><title>b</title><enclosure url="http://other.example/b.cap" type="application/cap+xml" length="1"/></item>
      <item><title>c</title></item></channel></rss>"""
    found = poll.entries(safe.parse(rss), "http://feeds.example/cap/rss.xml")
    assert [e.url for e in found] == ["http://feeds.example/cap/alerts/a.xml", "http://other.example/b.cap"]
    single = poll.entries(safe.parse(alert_doc("one", sent="2026-08-01T08:00:00+08:00")), "http://x/")
    assert single[0].url is None and b"<identifier>one</identifier>" in single[0].inline
    with pytest.raises(Exception, match="neither an Atom nor an RSS feed"):
        poll.entries(safe.parse(b"<html/>"), "http://x/")


def test_a_warning_over_many_grids_stays_small_and_valid(world):
    from sqlalchemy import select

    from liandong.areas.models import Area

    with unit_of_work(world) as s:
        grids = list(s.scalars(select(Area.code).where(Area.level == "grid").order_by(Area.code).limit(200)))
    desk = Desk(world, T0 + dt.timedelta(days=7))
    r = desk.warn(desk.incident(area_codes=grids))
    assert r.status_code == 201, r.text
    document = desk.document(r.json()["identifier"])
    root = assert_valid(document)
    area = root.find(f"{CAP}info").find(f"{CAP}area")
    points = sum(len(p.text.split()) for p in area.findall(f"{CAP}polygon"))
    assert 4 <= points <= 400 and len(document) < 40_000
    assert len(area.findtext(f"{CAP}areaDesc")) <= 500


# --- the schema module --------------------------------------------------------------------------------------

def test_cap_11_signature_is_allowed_and_the_copied_schemas_match_the_shared_ones():
    for name in ("CAP-v1.2.xsd", "CAP-v1.1.xsd"):
        if (SHARED / "schema" / name).exists():
            assert (SCHEMA_DIR / name).read_bytes() == (SHARED / "schema" / name).read_bytes()
    signed = (SHARED / "samples" / "google-cap-library" / "earthquake_signed.cap.xml").read_bytes()
    assert xsd.validate(safe.parse(signed)) == "1.1"
