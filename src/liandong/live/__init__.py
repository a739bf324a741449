"""Live fan-out of case events to screens (Server-Sent Events)."""
