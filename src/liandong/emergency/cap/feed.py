"""Publishing issued warnings: the Atom feed of the current ones and each document as it was issued.

"Current" means the latest message of its series (nothing superseded it), not a Cancel, not expired. The feed lists
real warnings (status Actual) unless ``status=Exercise`` asks for the drills' instead, so a receiver never mixes
a drill into real alerts by accident. These reads are public: they show what the CAP documents carry (the
centre as sender, the texts, the area) and nothing of the incident behind them (no commander, no log, no
reporter). A single document is served for any identifier issued, exercise or not: it says ``Exercise`` itself.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.emergency.cap.identifiers import cap_time
from liandong.emergency.cap.models import IssuedWarning
from liandong.errors import Invalid, NotFound

ATOM = "http://www.w3.org/2005/Atom"
FEED_STATUSES = ("Actual", "Exercise")
CAP_MIME = "application/cap+xml"


def current(session: Session, now: dt.datetime, status: str = "Actual") -> list[IssuedWarning]:
    """The warnings in force now with that status, newest first."""
    if status not in FEED_STATUSES:
        raise Invalid(f"status must be one of {', '.join(FEED_STATUSES)}", code="unknown_status",
                      params={"status": status})
    return list(session.scalars(select(IssuedWarning).where(
        IssuedWarning.superseded_at.is_(None), IssuedWarning.msg_type != "Cancel", IssuedWarning.expires > now,
        IssuedWarning.status == status).order_by(IssuedWarning.sent.desc(), IssuedWarning.identifier.desc())))


def document(session: Session, identifier: str) -> bytes:
    """The document as published, byte for byte (a signature still verifies)."""
    text = session.scalar(select(IssuedWarning.document).where(IssuedWarning.identifier == identifier))
    if text is None:
        raise NotFound(f"no CAP alert {identifier!r}", code="cap_not_found", params={"identifier": identifier})
    return text.encode("utf-8")


def atom(rows: list[IssuedWarning], *, feed_url: str, document_url: str, title: str, now: dt.datetime) -> bytes:
    """An Atom 1.0 feed: one entry per warning, linking its CAP document (``document_url`` has ``{identifier}``)."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})

    def add(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
        child = etree.SubElement(parent, f"{{{ATOM}}}{name}", **attrs)
        if text is not None:
            child.text = text
        return child

    add(feed, "id", feed_url)
    add(feed, "title", title)
    add(feed, "updated", cap_time(max((w.sent for w in rows), default=now)))
    add(feed, "link", rel="self", href=feed_url, type="application/atom+xml")
    add(add(feed, "author"), "name", title)
    for w in rows:
        url = document_url.format(identifier=w.identifier)
        entry = add(feed, "entry")
        add(entry, "id", f"urn:cap:{w.sender}:{w.identifier}")
        add(entry, "title", w.headline)
        add(entry, "updated", cap_time(w.sent))
        add(entry, "published", cap_time(w.sent))
        add(entry, "summary", w.description)
        add(entry, "link", rel="alternate", href=url, type=CAP_MIME)
        add(entry, "category", term=w.msg_type)
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True)
