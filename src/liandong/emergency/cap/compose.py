"""The CAP 1.2 document of a warning issued from an incident: one ``info`` in zh-CN, the Chinese levels as
parameters, the affected area as polygons and geocodes. Elements are written in the schema's order; the
result is validated against the OASIS schema before anyone sees it (``issue.py``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from liandong.emergency.cap import mapping
from liandong.emergency.cap.areas import CapArea
from liandong.emergency.cap.identifiers import cap_time
from liandong.emergency.cap.xsd import CAP12


@dataclass
class Message:
    """Everything the document says, gathered by ``issue.py``."""

    identifier: str
    sender: str
    sender_name: str
    sent: dt.datetime
    status: str
    msg_type: str
    references: str | None
    incident_number: str
    category: str
    incident_category: str
    event: str
    grade: int
    warning_level: int | None
    response_level: int | None
    headline: str
    description: str
    instruction: str | None
    expires: dt.datetime
    web: str | None
    area: CapArea


def document(m: Message) -> bytes:
    """The alert as UTF-8 XML bytes (with declaration)."""
    alert = etree.Element(f"{{{CAP12}}}alert", nsmap={None: CAP12})

    def add(parent: etree._Element, name: str, text: str | None) -> etree._Element | None:
        if text is None:
            return None
        child = etree.SubElement(parent, f"{{{CAP12}}}{name}")
        child.text = text
        return child

    for name, value in (("identifier", m.identifier), ("sender", m.sender), ("sent", cap_time(m.sent)),
                        ("status", m.status), ("msgType", m.msg_type), ("source", "Liandong 联动"),
                        ("scope", "Public")):
        add(alert, name, value)
    if m.status == "Exercise":
        add(alert, "note", "演练信息，非真实预警 (exercise, not a real warning)")
    add(alert, "references", m.references)
    add(alert, "incidents", m.incident_number)

    info = etree.SubElement(alert, f"{{{CAP12}}}info")
    judged = mapping.judgement(m.warning_level, m.grade, m.msg_type)
    add(info, "language", "zh-CN")
    add(info, "category", m.category)
    add(info, "event", m.event)
    if m.msg_type == "Cancel":
        add(info, "responseType", "AllClear")
    add(info, "urgency", judged.urgency)
    add(info, "severity", judged.severity)
    add(info, "certainty", judged.certainty)
    add(info, "effective", cap_time(m.sent))
    add(info, "expires", cap_time(m.expires))
    add(info, "senderName", m.sender_name)
    add(info, "headline", m.headline)
    add(info, "description", m.description)
    add(info, "instruction", m.instruction)
    add(info, "web", m.web)
    for name, value in mapping.parameters(m.grade, m.warning_level, m.response_level, m.incident_category):
        param = etree.SubElement(info, f"{{{CAP12}}}parameter")
        add(param, "valueName", name)
        add(param, "value", value)
    area = etree.SubElement(info, f"{{{CAP12}}}area")
    add(area, "areaDesc", m.area.desc)
    for ring in m.area.polygons:
        add(area, "polygon", ring)
    for name, value in m.area.geocodes:
        code = etree.SubElement(area, f"{{{CAP12}}}geocode")
        add(code, "valueName", name)
        add(code, "value", value)
    return etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)
