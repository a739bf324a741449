"""Catalogue: management components (部件) and matters (事项) with routing defaults and time limits."""
