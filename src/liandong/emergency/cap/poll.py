"""Polling a feed of CAP alerts: an Atom or RSS 2.0 feed whose entries link to CAP documents or hold them inline
(a bare CAP document at the URL counts as a feed of one).

Everything fetched goes through the same gate as an upload (``receive.py``), each document in its own
transaction, so one bad document is reported and the rest still arrive. Several processes may poll the same feed:
the unique (sender, identifier, sent) key stores each message once, and documents whose URL was received already
are not fetched again. Requests time out (``cap_poll_timeout_seconds``), and a response larger than the limit
(``cap_max_bytes`` for a document, eight times that for a feed) is dropped unread past it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
from lxml import etree
from sqlalchemy.orm import Session

from liandong.config import Settings
from liandong.emergency.cap import receive, safe, xsd
from liandong.errors import DomainError, TooLarge

ATOM = "{http://www.w3.org/2005/Atom}"
MAX_ENTRIES = 500
FEED_FACTOR = 8
Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass
class Entry:
    url: str | None
    inline: bytes | None = None


def fetch(client: httpx.Client, url: str, max_bytes: int) -> bytes:
    """The body at ``url``, refused (``TooLarge``) as soon as it passes ``max_bytes``."""
    with client.stream("GET", url) as response:
        response.raise_for_status()
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"{url} has {declared} bytes; at most {max_bytes} are read", code="cap_too_large")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(f"{url} is larger than {max_bytes} bytes", code="cap_too_large")
    return bytes(body)


def entries(root: etree._Element, base: str) -> list[Entry]:
    """The feed's entries, each a CAP document inline or a link to one (relative links resolved against ``base``)."""
    if isinstance(root.tag, str) and etree.QName(root).namespace in xsd.VERSIONS:
        return [Entry(url=None, inline=etree.tostring(root))]
    if root.tag == f"{ATOM}feed":
        items, link_of = root.findall(f"{ATOM}entry"), _atom_link
    elif root.tag == "rss":
        items, link_of = root.findall("channel/item"), _rss_link
    else:
        raise DomainError(f"{base} is neither an Atom nor an RSS feed, nor a CAP document", code="cap_not_feed")
    out = []
    for item in items[:MAX_ENTRIES]:
        alert = next((e for e in item.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "alert"
                      and etree.QName(e).namespace in xsd.VERSIONS), None)
        if alert is not None:
            out.append(Entry(url=None, inline=etree.tostring(alert)))
        elif href := link_of(item):
            out.append(Entry(url=urljoin(base, href)))
    return out


def _atom_link(entry: etree._Element) -> str | None:
    links = entry.findall(f"{ATOM}link")
    for link in links:
        if "cap" in (link.get("type") or ""):
            return link.get("href")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
    return None


def _rss_link(item: etree._Element) -> str | None:
    enclosure = item.find("enclosure")
    if enclosure is not None and enclosure.get("url"):
        return enclosure.get("url")
    return (item.findtext("link") or "").strip() or None


def poll(url: str, transaction: Transaction, settings: Settings, clock: Callable[[], dt.datetime],
         client: httpx.Client | None = None) -> dict:
    """Fetch the feed at ``url`` and receive its documents; a summary of what happened to each."""
    own = client is None
    client = client or httpx.Client(timeout=settings.cap_poll_timeout_seconds, follow_redirects=True,
                                    max_redirects=3, headers={"Accept": "application/atom+xml, application/rss+xml, "
                                                                        "application/cap+xml, application/xml"})
    summary: dict = {"feed": url, "entries": 0, "imported": 0, "duplicates": 0, "known": 0, "refused": []}
    try:
        root = safe.parse(fetch(client, url, settings.cap_max_bytes * FEED_FACTOR), "feed")
        items = entries(root, url)
        summary["entries"] = len(items)
        with transaction() as session:
            known = receive.known_sources(session, [e.url for e in items if e.url])
        for item in items:
            if item.url in known:
                summary["known"] += 1
                continue
            try:
                data = item.inline if item.inline is not None else fetch(client, item.url or "", settings.cap_max_bytes)
                with transaction() as session:
                    _, new = receive.receive(session, data, source=item.url or url, now=clock(),
                                             max_bytes=settings.cap_max_bytes)
                summary["imported" if new else "duplicates"] += 1
            except (DomainError, httpx.HTTPError) as exc:
                summary["refused"].append(_refusal(item.url or url, exc))
    finally:
        if own:
            client.close()
    return summary


def _refusal(where: str, exc: Exception) -> dict:
    if isinstance(exc, DomainError):
        return {"url": where, "code": exc.code, "detail": exc.message, **exc.params}
    return {"url": where, "code": "fetch_failed", "detail": f"{type(exc).__name__}: {exc}"}
