"""The OASIS CAP schemas (1.1, 1.2) shipped in ``schema/`` and validation against the one a document's namespace
names, with the first error turned into a reason that names the element and line."""

from __future__ import annotations

import copy
import re
import threading
from functools import cache
from pathlib import Path

from lxml import etree

from liandong.emergency.cap.errors import CapRefused

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
VERSIONS = {CAP12: "1.2", CAP11: "1.1"}
SCHEMA_DIR = Path(__file__).parent / "schema"
_FILES = {CAP12: "CAP-v1.2.xsd", CAP11: "CAP-v1.1.xsd"}
_lock = threading.Lock()
"""libxml2 schema objects are not documented as thread-safe for validation: one validation at a time."""


@cache
def schema(namespace: str) -> etree.XMLSchema:
    """The compiled schema of a CAP namespace (read once per process, from our own files only)."""
    doc = etree.parse(str(SCHEMA_DIR / _FILES[namespace]),
                      etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    return etree.XMLSchema(doc)


def namespace_of(root: etree._Element) -> str:
    """The CAP namespace of ``root`` (an ``alert``), or ``CapRefused`` saying what it is instead."""
    if not isinstance(root.tag, str):
        raise CapRefused("the document has no root element", code="cap_not_cap")
    name = etree.QName(root)
    if name.localname != "alert" or name.namespace not in VERSIONS:
        raise CapRefused(f"the root element is {{{name.namespace or ''}}}{name.localname}; a CAP 1.1 or 1.2 "
                         "<alert> is expected", code="cap_not_cap", element=name.localname)
    return name.namespace


def validate(root: etree._Element) -> str:
    """Check ``root`` against the schema of its namespace; the CAP version ('1.1' or '1.2') when valid.

    CAP 1.1 allows an enveloped ``ds:Signature`` as the alert's last child (spec §3.3.2.1) but its schema does
    not: a 1.1 document is validated without that one trailing element."""
    namespace = namespace_of(root)
    target = root
    if namespace == CAP11 and len(root) and isinstance(root[-1].tag, str) and etree.QName(root[-1]).namespace == DSIG:
        target = copy.deepcopy(root)
        target.remove(target[-1])
    checker = schema(namespace)
    with _lock:
        ok = checker.validate(target)
        log = checker.error_log
        first = log[0] if not ok and len(log) else None
    if ok:
        return VERSIONS[namespace]
    raise _reason(first, VERSIONS[namespace])


_ELEMENT = re.compile(r"Element '\{[^}]*\}([\w.-]+)'")
_NS = re.compile(r"\{[^}]*\}")


def _reason(entry, version: str) -> CapRefused:
    if entry is None:
        return CapRefused(f"the document is not valid CAP {version}", code="cap_schema")
    found = _ELEMENT.search(entry.message)
    element = found.group(1) if found else None
    text = _NS.sub("", entry.message).replace("Element '", "<").replace("':", ">:", 1)
    return CapRefused(f"CAP {version} schema, line {entry.line}: {text}", code="cap_schema", element=element,
                      line=entry.line or None)
