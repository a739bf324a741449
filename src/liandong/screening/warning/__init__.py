"""Early warning (早研判): emerging clusters of similar reports in space and time, as a pure numpy library.

``events`` (grids, reports, neighbourhoods) → ``scan`` (prospective space-time permutation scan) and
``baseline`` (EARS C2 per area) → ``clusters`` (a warning and its evidence); ``simulate`` and ``evaluate``
measure them on synthetic district-months with known clusters. No tables, schedule or API here yet.
"""
