"""Parsing XML from outside without letting it reach anything: no DTD, no entity, no network, no file.

Three walls: a document in an encoding other than UTF-8, US-ASCII or ISO-8859-1, or declaring a DOCTYPE or an
ENTITY, is refused before any parser sees it (the text search works only on ASCII-compatible bytes, hence the
encoding rule: a UTF-7 DOCTYPE would pass it); the lxml parser never loads a DTD, resolves an entity or touches
the network, and keeps its default limits against huge trees; a parsed tree still holding an entity reference or
a DOCTYPE is refused. XInclude is never
processed and ``xsi:schemaLocation`` never followed (we validate against our own schemas only).
"""

from __future__ import annotations

import re

from lxml import etree

from liandong.emergency.cap.errors import CapRefused

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ENCODINGS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})


def parser() -> etree.XMLParser:
    """A fresh hardened parser (lxml parsers are not safe to share between threads)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_pis=True, collect_ids=False)


def parse(data: bytes, what: str = "document") -> etree._Element:
    """The root element of ``data``; ``CapRefused`` (400) naming the reason when it is not plain, safe XML."""
    if not data.strip():
        raise CapRefused(f"the {what} is empty", code="cap_not_xml")
    declared = _ENCODING.match(data.removeprefix(b"\xef\xbb\xbf"))
    if data.startswith(_WIDE_BOMS) or b"\x00" in data[:512] or (
            declared and declared.group(1).decode().lower() not in _ENCODINGS):
        raise CapRefused(f"the {what} is not in an accepted encoding (UTF-8, US-ASCII or ISO-8859-1 expected)",
                         code="cap_encoding")
    if _DECLARATION.search(data):
        raise CapRefused(f"the {what} declares a DTD or entities, which are refused unread (no DOCTYPE or ENTITY "
                         "may appear)", code="cap_dtd_forbidden", element="!DOCTYPE")
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        raise CapRefused(f"the {what} is not well-formed XML: {exc.msg}", code="cap_not_xml", line=line) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise CapRefused(f"the {what} declares a DTD, which is refused", code="cap_dtd_forbidden",
                         element="!DOCTYPE")
    refuse_entities(root, what)
    return root


def refuse_entities(root: etree._Element, what: str = "document") -> None:
    """The last wall: a tree still holding an entity reference is refused."""
    for node in root.iter(etree.Entity):
        raise CapRefused(f"the {what} uses the entity {node.text}, which is refused unresolved",
                         code="cap_entity_forbidden", element=node.getparent().tag if node.getparent() is not None
                         else None)
