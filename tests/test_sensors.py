"""Sensors: debouncing and hysteresis give one case per incident; the return to normal is noted on it.
End to end through the real Mosquitto broker (127.0.0.1:1883): a noisy burst → exactly one case."""

import datetime as dt
import json
import socket
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from liandong.app import create_app
from liandong.areas.index import GridIndex
from liandong.cases.models import Case, CaseEvent
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.errors import Invalid
from liandong.intake.sensors import mqtt, service
from tests.caseworld import EAST_POINT, WEST_POINT
from tests.conftest import login
from tests.factories import PASSWORD

T0 = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world(case_world):
    return case_world


def device(url, device_type="manhole_tilt", point=WEST_POINT):
    code = f"S-{uuid.uuid4().hex[:8]}"
    with unit_of_work(url) as s:
        service.register(s, GridIndex.build(s), code=code, device_type=device_type, lon=point[0], lat=point[1])
    return code


def feed(url, code, values, start=T0):
    out = []
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        dev = service.device(s, code)
        for i, v in enumerate(values):
            out.append(service.reading(s, index, dev, v, start + dt.timedelta(seconds=10 * i))["event"])
    return out


def sensor_cases(url, code) -> list[Case]:
    with unit_of_work(url) as s:
        return list(s.scalars(select(Case).where(Case.channel == "sensor", Case.description.contains(code))))


def test_spikes_do_not_alarm_and_an_incident_opens_one_case(world):
    code = device(world)
    # single spikes (debounce: 3 in a row needed), then a real tilt with noise above the clear threshold
    events = feed(world, code, [2, 30, 3, 40, 1, 20, 25, 30, 12, 18, 6, 40, 16])
    assert events.count("alarm") == 1 and events[7] == "alarm"
    assert len(sensor_cases(world, code)) == 1
    # values between low and high keep the alarm (hysteresis); three under 5° end it
    events = feed(world, code, [8, 4, 9, 4, 3, 2], start=T0 + dt.timedelta(hours=1))
    assert events == [None, None, None, None, None, "normal"]
    (case,) = sensor_cases(world, code)
    assert case.urgency == "urgent" and case.matter_id
    with unit_of_work(world) as s:
        last = s.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc()))
        assert last.action == "sensor_normal" and last.payload["value"] == 2
    # a new incident later is a new case
    assert feed(world, code, [20, 20, 20], start=T0 + dt.timedelta(hours=2))[-1] == "alarm"
    assert len(sensor_cases(world, code)) == 2


def test_registry_and_http_readings(world):
    client = TestClient(create_app(Settings(database_url=world)))
    admin = login(client, "admin", PASSWORD)
    bad = client.post("/api/v1/sensors", json={"code": "X", "device_type": "radar", "lon": 1, "lat": 1}, headers=admin)
    assert bad.status_code == 422
    far = client.post("/api/v1/sensors", json={"code": "X", "device_type": "smoke", "lon": 120.0, "lat": 30.0},
                      headers=admin)
    assert far.status_code == 422 and "outside" in far.json()["detail"]
    made = client.post("/api/v1/sensors", json={"code": "SMOKE-1", "device_type": "smoke", "lon": EAST_POINT[0],
                                                "lat": EAST_POINT[1]}, headers=admin).json()
    token = made["token"]
    url = "/api/v1/sensors/SMOKE-1/readings"
    assert client.post(url, json={"value": 50}).status_code == 401
    assert client.post(url, json={"value": 50}, headers={"X-Device-Token": "wrong"}).status_code == 401
    answers = [client.post(url, json={"value": v}, headers={"X-Device-Token": token}).json()["event"]
               for v in (50, 60)]
    assert answers == [None, "alarm"]
    listed = {d["code"]: d for d in client.get("/api/v1/sensors", headers=admin).json()}
    assert listed["SMOKE-1"]["state"] == "alarm" and listed["SMOKE-1"]["open_case_id"]
    with unit_of_work(world) as s, pytest.raises(Invalid):
        service.reading(s, GridIndex.build(s), service.device(s, "SMOKE-1"), float("nan"), T0)


def broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=2):
            return True
    except OSError:
        return False


def test_mqtt_burst_of_noisy_readings_gives_exactly_one_case(world):
    if not broker_up():
        pytest.skip("no MQTT broker on 127.0.0.1:1883 (Mosquitto): start it to run this test")
    import paho.mqtt.client as paho

    code = device(world, "gas", EAST_POINT)
    stop, ready = threading.Event(), threading.Event()
    listener = threading.Thread(target=mqtt.listen, args=(world, "127.0.0.1", 1883, stop, ready), daemon=True)
    listener.start()
    assert ready.wait(10), "the listener did not subscribe"
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    noisy = [5, 25, 3, 22, 30, 27, 35, 19, 24, 31, 12, 28, 33, 26, 30, 29, 21, 25]  # one long leak, with noise
    for i, v in enumerate(noisy):
        at = (T0 + dt.timedelta(seconds=i)).isoformat()
        pub.publish(f"liandong/sensors/{code}/reading", json.dumps({"value": v, "at": at}), qos=1).wait_for_publish()
    pub.publish(f"liandong/sensors/{code}/reading", b"not json", qos=1).wait_for_publish()  # dropped, not fatal
    pub.publish("liandong/sensors/NO-SUCH/reading", b'{"value": 99}', qos=1).wait_for_publish()
    last_at = T0 + dt.timedelta(seconds=len(noisy) - 1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with unit_of_work(world) as s:
            dev = service.device(s, code)
            if dev.last_at == last_at:  # the value alone repeats (25 is the 2nd reading too)
                break
        time.sleep(0.2)
    stop.set()
    listener.join(10)
    pub.loop_stop()
    assert dev.last_at == last_at and dev.last_value == noisy[-1] and dev.state == "alarm"
    assert len(sensor_cases(world, code)) == 1
    with unit_of_work(world) as s:
        assert s.scalar(select(func.count()).select_from(Case).where(Case.channel == "sensor",
                                                                     Case.description.contains("NO-SUCH"))) == 0
