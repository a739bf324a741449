"""CAP's rules that its schema cannot say (CAP 1.2 §3.2), checked on every received document after the schema,
and the document read into plain values on the way. Each refusal names its element.

- ``identifier`` and ``sender`` hold no spaces, commas, ``<`` or ``&``;
- ``references`` holds one or more ``sender,identifier,sent`` triples, and Update, Cancel, Ack and Error have it;
- a Restricted message has a ``restriction``, a Private one ``addresses``;
- every date-time carries an offset;
- a ``polygon`` has four or more ``lat,lon`` pairs in range, the first equal to the last; a ``circle`` is
  ``lat,lon radius``. An empty polygon is skipped, as some issuers send one (NWS).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from lxml import etree

from liandong.emergency.cap.errors import CapRefused
from liandong.emergency.cap.identifiers import parse_time

REFERRING = frozenset({"Update", "Cancel", "Ack", "Error"})
_FORBIDDEN = re.compile(r"[\s,<&]")
MAX_KEY = 255


@dataclass(frozen=True)
class Reference:
    sender: str
    identifier: str
    sent: dt.datetime


@dataclass
class Alert:
    """A received document's header, its info blocks and areas as plain values."""

    identifier: str
    sender: str
    sent: dt.datetime
    sent_text: str
    status: str
    msg_type: str
    scope: str
    references_text: str | None
    references: list[Reference] = field(default_factory=list)
    infos: list[dict] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)


def read(root: etree._Element, namespace: str) -> Alert:
    ns = f"{{{namespace}}}"

    def text(parent: etree._Element, name: str) -> str | None:
        node = parent.find(ns + name)
        return None if node is None else (node.text or "").strip()

    identifier, sender = text(root, "identifier") or "", text(root, "sender") or ""
    for name, value in (("identifier", identifier), ("sender", sender)):
        if not value or _FORBIDDEN.search(value):
            raise CapRefused(f"<{name}> must be non-empty without spaces, commas, '<' or '&': {value[:80]!r}",
                             element=name)
        if len(value) > MAX_KEY:
            raise CapRefused(f"<{name}> is longer than {MAX_KEY} characters", element=name)
    sent_text = text(root, "sent") or ""
    alert = Alert(identifier=identifier, sender=sender, sent=_time(sent_text, "sent"), sent_text=sent_text,
                  status=text(root, "status") or "", msg_type=text(root, "msgType") or "",
                  scope=text(root, "scope") or "", references_text=text(root, "references"))
    alert.references = parse_references(alert.references_text)
    if alert.msg_type in REFERRING and not alert.references:
        raise CapRefused(f"a message of type {alert.msg_type} must name the messages it refers to in <references>",
                         element="references")
    if alert.scope == "Restricted" and not text(root, "restriction"):
        raise CapRefused("a Restricted message must say its <restriction>", element="restriction")
    if alert.scope == "Private" and not text(root, "addresses"):
        raise CapRefused("a Private message must name its <addresses>", element="addresses")
    for i, info in enumerate(root.findall(ns + "info")):
        alert.infos.append(_info(info, ns, text))
        alert.features.extend(_areas(info, ns, text, i, alert.infos[-1]["language"]))
    return alert


def _time(value: str | None, element: str) -> dt.datetime:
    try:
        return parse_time(value or "")
    except ValueError:
        raise CapRefused(f"<{element}> must be a date-time with a time-zone offset, not {value!r}",
                         element=element) from None


def parse_references(value: str | None) -> list[Reference]:
    if value is None:
        return []
    triples = value.split()
    if not triples:
        raise CapRefused("<references> is empty: it must hold sender,identifier,sent triples", element="references")
    out = []
    for triple in triples:
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts):
            raise CapRefused(f"<references> entry {triple[:120]!r} is not sender,identifier,sent",
                             element="references")
        out.append(Reference(parts[0], parts[1], _time(parts[2], "references")))
    return out


def _info(info: etree._Element, ns: str, text) -> dict:
    times = {name: text(info, name) for name in ("effective", "onset", "expires")}
    for name, value in times.items():
        if value:
            _time(value, name)
    return {
        "language": text(info, "language") or "en-US",
        "categories": [(c.text or "").strip() for c in info.findall(ns + "category")],
        "event": text(info, "event"),
        "response_types": [(c.text or "").strip() for c in info.findall(ns + "responseType")],
        "urgency": text(info, "urgency"), "severity": text(info, "severity"), "certainty": text(info, "certainty"),
        **{k: v or None for k, v in times.items()},
        **{key: text(info, name) or None for key, name in (
            ("sender_name", "senderName"), ("headline", "headline"), ("description", "description"),
            ("instruction", "instruction"), ("web", "web"), ("contact", "contact"), ("audience", "audience"))},
        "parameters": _pairs(info, ns + "parameter", ns),
        "event_codes": _pairs(info, ns + "eventCode", ns),
        "resources": [{"description": text(r, "resourceDesc"), "mime_type": text(r, "mimeType"),
                       "size": text(r, "size"), "uri": text(r, "uri")} for r in info.findall(ns + "resource")],
    }


def _pairs(parent: etree._Element, tag: str, ns: str) -> list[list[str]]:
    return [[(p.findtext(ns + "valueName") or "").strip(), (p.findtext(ns + "value") or "").strip()]
            for p in parent.findall(tag)]


def _areas(info: etree._Element, ns: str, text, index: int, language: str) -> list[dict]:
    """GeoJSON features of the info's areas (lon,lat): a Polygon per polygon, a Point with ``radius_km`` per circle,
    and a feature without geometry for an area described by geocodes only."""
    features = []
    for area in info.findall(ns + "area"):
        props = {"areaDesc": text(area, "areaDesc"), "info": index, "language": language,
                 "geocodes": _pairs(area, ns + "geocode", ns)}
        shapes = []
        for node in area.findall(ns + "polygon"):
            if (node.text or "").strip():
                shapes.append(({"type": "Polygon", "coordinates": [_ring(node.text)]}, {}))
        for node in area.findall(ns + "circle"):
            lat, lon, radius = _circle(node.text or "")
            shapes.append(({"type": "Point", "coordinates": [lon, lat]}, {"radius_km": radius}))
        if not shapes:
            shapes.append((None, {}))
        features.extend({"type": "Feature", "geometry": geom, "properties": {**props, **extra}}
                        for geom, extra in shapes)
    return features


def _point(pair: str, element: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = pair.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise CapRefused(f"<{element}> point {pair[:40]!r} is not lat,lon", element=element) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CapRefused(f"<{element}> point {pair!r} lies outside WGS84 lat/lon ranges", element=element)
    return lat, lon


def _ring(value: str) -> list[list[float]]:
    points = [_point(pair, "polygon") for pair in value.split()]
    if len(points) < 4:
        raise CapRefused(f"<polygon> has {len(points)} points; at least 4 are needed", element="polygon")
    if points[0] != points[-1]:
        raise CapRefused("<polygon> is not closed: its first and last points differ", element="polygon")
    return [[lon, lat] for lat, lon in points]


def _circle(value: str) -> tuple[float, float, float]:
    parts = value.split()
    if len(parts) != 2:
        raise CapRefused(f"<circle> {value[:60]!r} is not 'lat,lon radius'", element="circle")
    lat, lon = _point(parts[0], "circle")
    try:
        radius = float(parts[1])
    except ValueError:
        raise CapRefused(f"<circle> radius {parts[1]!r} is not a number", element="circle") from None
    if not math.isfinite(radius) or radius < 0:  # nan and inf would break every JSON answer that shows the area
        raise CapRefused("<circle> radius must be a finite number of km, not negative", element="circle")
    return lat, lon, radius
