"""Moved below the domains to ``liandong/audit.py`` (areas and units, which auth builds on, record too).

Kept so that older imports (``from liandong.auth import audit``) still work; new code imports ``liandong.audit``.
"""

from liandong.audit import AuditEntry, entries, record

__all__ = ["AuditEntry", "entries", "record"]
