"""Open311 answers in JSON or XML (the spec's mechanical mapping), and its error format.

XML answers are written with ElementTree; a client's XML is only ever read through ``defusedxml``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from fastapi.responses import Response

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
SINGULAR = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format",
            "errors": "error", "service_requests": "request", "services": "service",
            "service_request_updates": "request_update"}


def _fill(parent: ET.Element, value) -> None:
    if isinstance(value, dict):
        for key, v in value.items():
            _fill(ET.SubElement(parent, key), v)
    elif isinstance(value, list):
        tag = SINGULAR.get(parent.tag, "item")
        for v in value:
            _fill(ET.SubElement(parent, tag), v)
    elif value is not None:
        parent.text = str(value).lower() if isinstance(value, bool) else str(value)


def render(fmt: str, root: str, body, status: int = 200) -> Response:
    """``body`` is a list (JSON array; XML ``<root>`` of items) or a dict (one object)."""
    if fmt == "xml":
        element = ET.Element(root)
        _fill(element, body)
        text = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(element, encoding="utf-8")
        return Response(text, status_code=status, media_type=FORMATS["xml"])
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=FORMATS["json"])


def error(fmt: str, status: int, description: str) -> Response:
    return render(fmt if fmt in FORMATS else "json", "errors", [{"code": status, "description": description}],
                  status)


def read_xml_request(body: bytes) -> list[tuple[str, str]]:
    """Fields of ``<request><service_code>…</service_code>…</request>`` as (name, value) pairs.

    Parsed by defusedxml: a document type with entities (external or not) is refused, so no file is
    read and no entity expands (billion laughs)."""
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    if len(body) > 100_000:
        raise ValueError("the XML body is larger than 100 kB")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise ValueError("XML with a document type or entities is refused") from None
    except ET.ParseError as exc:
        raise ValueError(f"malformed XML: {exc}") from None
    return [(child.tag, (child.text or "").strip()) for child in root]
