"""CAP import throughput: documents per second through the importer (``receive.receive``: the DOCTYPE check,
the hardened parse, the schema, CAP's rules, the dedupe lookup, the insert with its savepoint, Updates applied, the
commit — one transaction per document, as an upload or a feed poll does), beside a bare lxml parse + XSD
validation of the same documents as the ratio's base, and beside the database's floor for storing the same text
(a one-row insert per transaction).

The documents are the shared samples (``shared/data/cap/samples``: real alerts of 0.5–460 KB, signed ones, CAP 1.1
and 1.2), each round with fresh identifiers so every import stores a new row; when the samples are not beside the
repository, generated alerts stand in. ``run(url)`` works on any migrated database (it only adds received
warnings); ``python -m bench.cap [URL]`` uses a scratch SQLite file when no URL is given.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
import uuid
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cap" / "samples"
_IDENTIFIER = re.compile(rb"(<(?:\w+:)?identifier>)([^<]+)(</(?:\w+:)?identifier>)")


def documents() -> list[bytes]:
    """The positive samples, or generated alerts when the shared samples are not there."""
    files = sorted(p for folder in ("google-cap-library", "oasiscap") for p in (SAMPLES / folder).glob("*"))
    if files:
        return [p.read_bytes() for p in files]
    head = '<?xml version="1.0"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>gen-{i}</identifier>'
    body = ("<sender>bench@example.org</sender><sent>2026-08-01T08:00:00+08:00</sent><status>Actual</status>"
            "<msgType>Alert</msgType><scope>Public</scope><info><category>Met</category><event>Flood</event>"
            "<urgency>Expected</urgency><severity>Moderate</severity><certainty>Likely</certainty>"
            "<area><areaDesc>River</areaDesc><polygon>31.1,121.3 31.2,121.3 31.2,121.4 31.1,121.3</polygon></area>"
            "</info></alert>")
    return [(head.format(i=i) + body).encode() for i in range(20)]


def fresh(doc: bytes, tag: str) -> bytes:
    """The document with a new identifier (the first ``identifier`` element is the alert's own)."""
    return _IDENTIFIER.sub(lambda m: m.group(1) + m.group(2).strip() + b"-" + tag.encode() + m.group(3), doc, count=1)


def bare(docs: list[bytes]) -> float:
    """Seconds for a hardened lxml parse and a validation against the matching OASIS schema of every document."""
    from lxml import etree

    from liandong.emergency.cap import xsd

    schemas = {ns: xsd.schema(ns) for ns in xsd.VERSIONS}
    t = time.perf_counter()
    for doc in docs:
        root = etree.fromstring(doc, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
        schemas[etree.QName(root).namespace].validate(root)
    return time.perf_counter() - t


def bare_store(url: str, docs: list[bytes]) -> float:
    """Seconds to store each document's text in a one-table row, one transaction each (Core): the database's floor
    for the same bytes."""
    from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert

    from liandong.db import get_engine

    engine = get_engine(url)
    table = Table("bench_bare_cap", MetaData(), Column("id", Integer, primary_key=True), Column("key", String(300)),
                  Column("document", Text))
    table.create(engine, checkfirst=True)
    try:
        t = time.perf_counter()
        for i, doc in enumerate(docs):
            with engine.begin() as conn:
                conn.execute(insert(table).values(key=str(i), document=doc.decode("utf-8", errors="replace")))
        return time.perf_counter() - t
    finally:
        table.drop(engine)


def run(url: str, rounds: int = 5) -> dict:
    from liandong.db import unit_of_work, utcnow
    from liandong.emergency.cap import receive

    samples = documents()
    batches = [[fresh(doc, f"b{uuid.uuid4().hex[:8]}") for doc in samples] for _ in range(rounds)]
    every = [doc for batch in batches for doc in batch]
    bare_s = min(bare(batch) for batch in batches) * rounds
    stored = 0
    t = time.perf_counter()
    for doc in every:
        with unit_of_work(url) as session:
            _, new = receive.receive(session, doc, source="bench", now=utcnow(), max_bytes=1024 * 1024)
            stored += new
    ours_s = time.perf_counter() - t
    store_s = bare_store(url, every)
    size = sum(len(d) for d in samples)
    return {"documents": len(every), "stored": stored, "sample_kib": round(size / 1024, 1),
            "import_docs_per_s": round(len(every) / ours_s, 1),
            "import_ms_per_doc": round(ours_s / len(every) * 1000, 2),
            "bare_parse_validate_docs_per_s": round(len(every) / bare_s, 1), "ratio_vs_bare": round(bare_s / ours_s, 4),
            "bare_store_docs_per_s": round(len(every) / store_s, 1), "ratio_vs_bare_store": round(store_s / ours_s, 3),
            "note": "one transaction per document (as an upload or a poll); bases: lxml parse + XSD alone (no "
                    "database), and the same text stored by a one-row insert per transaction (no parsing)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="a migrated database (default: a scratch SQLite one)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = args.url
    if url is None:
        from liandong.db import migrate

        url = f"sqlite:///{tempfile.mkdtemp()}/cap.db"
        migrate(url)
    print(json.dumps(run(url, args.rounds)))


if __name__ == "__main__":
    main()
