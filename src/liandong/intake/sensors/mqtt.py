"""Readings over MQTT: ``liandong/sensors/<device code>/reading`` with ``{"value": 17.5, "at": "…"?}``.

One subscriber per deployment (``liandong sensors listen``): the broker's own authentication and topic
ACLs decide who may publish; every message is applied in its own transaction, in arrival order, so a
device's readings are judged in sequence. A bad message is logged and dropped, never fatal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid

from liandong.areas.index import IndexHolder
from liandong.db import unit_of_work, utcnow
from liandong.errors import DomainError
from liandong.intake.sensors import service

TOPIC = "liandong/sensors/+/reading"
log = logging.getLogger("liandong.sensors")


def apply(url: str, holder: IndexHolder, topic: str, payload: bytes) -> dict | None:
    parts = topic.split("/")
    if len(parts) != 4 or parts[:2] != ["liandong", "sensors"] or parts[3] != "reading":
        return None
    try:
        data = json.loads(payload)
        value = data["value"] if isinstance(data, dict) else data
        at = dt.datetime.fromisoformat(data["at"]) if isinstance(data, dict) and data.get("at") else utcnow()
        if at.tzinfo is None:
            raise ValueError("'at' needs a time zone")
        with unit_of_work(url) as session:
            dev = service.device(session, parts[2])
            return service.reading(session, holder.get(session), dev, value, at)
    except (ValueError, KeyError, TypeError, DomainError) as exc:
        log.warning("reading on %s refused: %s", topic, getattr(exc, "message", exc))
        return None


def listen(url: str, host: str, port: int, stop: threading.Event, ready: threading.Event | None = None) -> None:
    """Subscribe and apply readings until ``stop`` is set."""
    import paho.mqtt.client as mqtt

    holder = IndexHolder(5.0)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"liandong-{uuid.uuid4().hex[:12]}")

    def on_connect(c, _userdata, _flags, reason, _props):
        c.subscribe(TOPIC, qos=1)

    def on_subscribe(*_args):
        if ready is not None:
            ready.set()

    def on_message(_c, _userdata, msg):
        try:
            apply(url, holder, msg.topic, msg.payload)
        except Exception:  # noqa: BLE001  a database hiccup must not kill the listener's network thread
            log.exception("reading on %s failed; the listener goes on", msg.topic)

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        stop.wait()
    finally:
        client.loop_stop()
        client.disconnect()
