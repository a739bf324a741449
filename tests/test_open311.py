"""Open311 GeoReport v2 against a running server over real HTTP, in JSON and XML: discovery, services,
definitions, a request's round trip (POST → token → GET), the query filters and defaults, the spec's
errors, API keys managed by admins, and XML with entities refused."""

import xml.etree.ElementTree as ET

import httpx
import pytest

from liandong.app import create_app
from liandong.config import Settings
from liandong.db import dispose_engine, unit_of_work
from liandong.intake.open311 import service as open311
from tests.caseworld import EAST_POINT, WEST_POINT, do, unit_id
from tests.factories import PASSWORD, WEST
from tests.server import serve

KEY = "test-open311-key-0123456789"


@pytest.fixture(scope="module")
def base(case_world):
    with unit_of_work(case_world) as s:
        open311.create_key(s, "tests", "admin", KEY)
    app = create_app(Settings(database_url=case_world, sweep_seconds=0, open311_jurisdiction="319901"))
    with serve(app) as url:
        yield url, case_world
    dispose_engine(case_world)


def post(url: str, fmt: str = "json", **fields) -> httpx.Response:
    data = {"api_key": KEY, "service_code": "06010", "lat": str(WEST_POINT[1]), "long": str(WEST_POINT[0]),
            "description": "小区门口垃圾堆积", "first_name": "三", "last_name": "张", "phone": "13700001111", **fields}
    return httpx.post(f"{url}/open311/v2/requests.{fmt}", data={k: v for k, v in data.items() if v is not None})


def test_discovery_services_and_definitions(base):
    url, _ = base
    d = httpx.get(f"{url}/open311/v2/discovery.json").json()
    assert d["endpoints"][0]["url"].endswith("/open311/v2") and "text/xml" in d["endpoints"][0]["formats"]
    x = httpx.get(f"{url}/open311/v2/discovery.xml")
    assert x.headers["content-type"].startswith("text/xml")
    assert ET.fromstring(x.content).find("endpoints/endpoint/specification").text.startswith("http://wiki.open311")
    services = httpx.get(f"{url}/open311/v2/services.json").json()
    assert len(services) == 250 and {"service_code", "service_name", "group", "metadata", "type"} <= set(services[0])
    garbage = next(s for s in services if s["service_code"] == "06010")
    assert garbage["service_name"] == "暴露垃圾" and garbage["group"] == "市容环境类" and garbage["type"] == "realtime"
    xml = ET.fromstring(httpx.get(f"{url}/open311/v2/services.xml").content)
    assert xml.tag == "services" and len(xml.findall("service")) == 250
    definition = httpx.get(f"{url}/open311/v2/services/06010.json").json()
    assert [a["code"] for a in definition["attributes"]] == ["urgency", "component_code"]
    xml = ET.fromstring(httpx.get(f"{url}/open311/v2/services/06010.xml").content)
    assert [v.find("key").text for v in xml.findall("attributes/attribute/values/value")] == ["normal", "urgent"]


def test_request_round_trip_json_and_xml(base):
    url, world = base
    r = post(url, **{"attribute[urgency]": "urgent", "media_url": "https://photos.example.org/p/1.jpg"})
    assert r.status_code == 200, r.text
    (created,) = r.json()
    number, token = created["service_request_id"], created["token"]
    assert number.startswith("319901-")
    assert httpx.get(f"{url}/open311/v2/tokens/{token}.json").json() == [{"service_request_id": number,
                                                                          "token": token}]
    (one,) = httpx.get(f"{url}/open311/v2/requests/{number}.json").json()
    assert one["status"] == "open" and one["service_code"] == "06010" and one["expected_datetime"]
    assert one["media_url"] == "https://photos.example.org/p/1.jpg"
    assert one["requested_datetime"].endswith("+00:00") and abs(one["lat"] - WEST_POINT[1]) < 1e-9
    assert "13700001111" not in str(one) and "张" not in str(one)  # no reporter data in public answers
    xml = ET.fromstring(httpx.get(f"{url}/open311/v2/requests/{number}.xml").content)
    assert xml.tag == "service_requests" and xml.find("request/service_request_id").text == number
    # the case behind it: channel open311, the reporter kept for the staff, the urgency taken
    staff = httpx.post(f"{url}/api/v1/auth/token", data={"username": "receptionist", "password": PASSWORD}).json()
    case = httpx.get(f"{url}/api/v1/cases", params={"q": number},
                     headers={"Authorization": f"Bearer {staff['access_token']}"}).json()["items"][0]
    assert case["channel"] == "open311" and case["urgency"] == "urgent" and case["reporter"]["phone"] == "13700001111"
    # closed in the platform → closed in Open311, with the deadline gone
    extra = {"report_done": {"note": "已清运"}, "dispatch": {"lead_unit_id": unit_id(world, f"B-cm-{WEST}")}}
    for action in ("accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"):
        do(world, case["id"], action, **extra.get(action, {}))
    r = httpx.get(f"{url}/open311/v2/requests/{number}.json")
    assert r.status_code == 200, r.text
    (one,) = r.json()
    assert one["status"] == "closed" and one["status_notes"] == "已办结" and one["expected_datetime"] is None
    assert one["agency_responsible"]
    # the FixMyStreet extension lists every change of state with its extended status
    ups = [u for u in httpx.get(f"{url}/open311/v2/servicerequestupdates.json").json()
           if u["service_request_id"] == number]
    assert [u["status"] for u in ups] == ["OPEN", "OPEN", "ACTION_SCHEDULED", "ACTION_SCHEDULED", "IN_PROGRESS",
                                          "IN_PROGRESS", "IN_PROGRESS", "FIXED", "CLOSED"]
    assert ups[5]["description"] == "已清运" and len({u["update_id"] for u in ups}) == len(ups)
    xml = ET.fromstring(httpx.get(f"{url}/open311/v2/servicerequestupdates.xml").content)
    assert xml.tag == "service_request_updates" and xml.find("request_update/status") is not None
    assert httpx.get(f"{url}/open311/v2/servicerequestupdates.json",
                     params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"}
                     ).status_code == 400
    # an XML client gets its answer in XML
    r = post(url, fmt="xml")
    assert r.status_code == 200 and ET.fromstring(r.content).find("request/service_request_id").text


def test_query_filters_defaults_and_paging(base):
    url, _ = base
    numbers = [post(url, description=f"第{i}件", **({"service_code": "09009"} if i % 2 else {})).json()[0][
        "service_request_id"] for i in range(4)]
    got = httpx.get(f"{url}/open311/v2/requests.json", params={"service_request_id": ",".join(numbers[:2])}).json()
    assert {r["service_request_id"] for r in got} == set(numbers[:2])
    parked = httpx.get(f"{url}/open311/v2/requests.json", params={"service_code": "09009"}).json()
    assert {r["service_code"] for r in parked} == {"09009"} and len(parked) >= 2
    assert all(r["status"] == "closed" for r in httpx.get(f"{url}/open311/v2/requests.json",
                                                          params={"status": "closed"}).json())
    everything = httpx.get(f"{url}/open311/v2/requests.json").json()
    page = httpx.get(f"{url}/open311/v2/requests.json", params={"page": 2, "page_size": 2}).json()
    assert [r["service_request_id"] for r in page] == [r["service_request_id"] for r in everything[2:4]]
    old = httpx.get(f"{url}/open311/v2/requests.json", params={"start_date": "2020-01-01T00:00:00+08:00",
                                                               "end_date": "2020-02-01T00:00:00+08:00"}).json()
    assert old == []
    for bad in ({"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-06-01T00:00:00Z"},  # > 90 days
                {"start_date": "yesterday"}, {"status": "pending"}, {"page_size": "5000"}):
        r = httpx.get(f"{url}/open311/v2/requests.json", params=bad)
        assert r.status_code == 400 and r.json()[0]["code"] == 400 and r.json()[0]["description"]


def test_errors_in_the_spec_format(base):
    url, _ = base
    r = post(url, api_key=None)
    assert r.status_code == 403 and r.json()[0]["code"] == 403
    assert post(url, api_key="not-a-key-at-all-123").status_code == 403
    r = post(url, fmt="xml", service_code="99999")
    assert r.status_code == 404 and ET.fromstring(r.content).find("error/code").text == "404"
    r = post(url, lat="30.0", long="120.0")
    assert r.status_code == 400 and "outside" in r.json()[0]["description"]
    r = post(url, lat=None, long=None, address_string="七莘路1号")
    assert r.status_code == 400 and "lat and long" in r.json()[0]["description"]
    assert post(url, lat="north").status_code == 400
    assert post(url, media_url="javascript:alert(1)").status_code == 400
    assert httpx.get(f"{url}/open311/v2/requests/319901-20200101-9999999.json").status_code == 404
    assert httpx.get(f"{url}/open311/v2/tokens/nope.xml").status_code == 404
    assert httpx.get(f"{url}/open311/v2/services/99999.json").status_code == 404
    assert httpx.get(f"{url}/open311/v2/services.csv").status_code == 404
    r = httpx.get(f"{url}/open311/v2/services.json", params={"jurisdiction_id": "310000"})
    assert r.status_code == 404 and "jurisdiction" in r.json()[0]["description"]
    assert httpx.get(f"{url}/open311/v2/services.json", params={"jurisdiction_id": "319901"}).status_code == 200
    for params in ({"page": str(10**20)}, {"end_date": "9999-12-31T23:59:59-14:00"},
                   {"start_date": "0001-01-01T00:00:00+14:00"}):  # were 500s: beyond what the database holds
        r = httpx.get(f"{url}/open311/v2/requests.json", params=params)
        assert r.status_code == 400 and r.json()[0]["code"] == 400, (params, r.status_code, r.text)


def test_xml_bodies_are_read_safely(base):
    url, _ = base
    ok = (f"<request><api_key>{KEY}</api_key><service_code>06010</service_code><lat>{EAST_POINT[1]}</lat>"
          f"<long>{EAST_POINT[0]}</long><description>XML 上报</description></request>").encode()
    r = httpx.post(f"{url}/open311/v2/requests.json", content=ok, headers={"Content-Type": "text/xml"})
    assert r.status_code == 200 and r.json()[0]["service_request_id"]
    evil = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<request><api_key>&x;</api_key><service_code>06010</service_code></request>")
    r = httpx.post(f"{url}/open311/v2/requests.json", content=evil, headers={"Content-Type": "application/xml"})
    assert r.status_code == 400 and "refused" in r.json()[0]["description"] and "root:" not in r.text
    laughs = b'<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><request><d>&b;</d></request>'
    r = httpx.post(f"{url}/open311/v2/requests.json", content=laughs, headers={"Content-Type": "text/xml"})
    assert r.status_code == 400


def test_keys_are_managed_by_admins(base):
    url, _ = base
    with httpx.Client(base_url=url) as c:
        admin = c.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()
        disp = c.post("/api/v1/auth/token", data={"username": "dispatcher", "password": PASSWORD}).json()
        h_admin = {"Authorization": f"Bearer {admin['access_token']}"}
        assert c.post("/api/v1/open311/keys", json={"name": "app"},
                      headers={"Authorization": f"Bearer {disp['access_token']}"}).status_code == 403
        made = c.post("/api/v1/open311/keys", json={"name": "partner app"}, headers=h_admin).json()
        key = made["key"]
        assert made["prefix"] == key[:6] and len(key) >= 16
        listed = c.get("/api/v1/open311/keys", headers=h_admin).json()
        assert any(k["name"] == "partner app" for k in listed) and all("key" not in k for k in listed)
        assert post(url, api_key=key).status_code == 200
        assert c.delete(f"/api/v1/open311/keys/{made['id']}", headers=h_admin).status_code == 204
        assert post(url, api_key=key).status_code == 403  # revoked
        log = c.get("/api/v1/audit", params={"action": "open311_key_created"}, headers=h_admin).json()
        assert log and key not in str(log)


def test_gcj02_coordinates_are_stored_as_wgs84(base):
    from sqlalchemy import select

    from liandong.areas.crs import wgs84_to_gcj02
    from liandong.cases.models import Case

    url, world = base
    gx, gy = wgs84_to_gcj02(WEST_POINT[0], WEST_POINT[1])
    r = post(url, lat=str(float(gy)), long=str(float(gx)), crs="gcj02")
    assert r.status_code == 200, r.text
    with unit_of_work(world) as s:
        case = s.scalar(select(Case).where(Case.number == r.json()[0]["service_request_id"]))
    assert abs(case.lon - WEST_POINT[0]) < 1e-5 and abs(case.lat - WEST_POINT[1]) < 1e-5
    assert post(url, crs="mercator").status_code == 400
