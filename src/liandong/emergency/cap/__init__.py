"""CAP (Common Alerting Protocol) warnings out and in, as China's profile GB/T 35965.1-2018 shapes them.

Out: a commander issues an Alert, Update or Cancel from an incident (``issue.py``); the document is composed
(``compose.py``) from the incident's category, levels and affected areas (``mapping.py``, ``geometry.py``),
signed when a key is configured (``signing.py``), validated against the OASIS schema (``xsd.py``), stored and
published as one XML document per alert and an Atom feed of the current ones (``feed.py``).

In: documents uploaded or polled from feeds (``poll.py``) are parsed without DTDs or entities (``safe.py``),
validated against the schema of their version and CAP's rules the schema cannot say (``rules.py``), stored
once per sender, identifier and sent time, and applied to the alerts they update or cancel (``receive.py``).
"""
