"""Liandong 联动 — city grid governance and emergency linkage platform."""

__version__ = "0.1.0"
