"""Open311 GeoReport v2 server (``/open311/v2/``): the catalogue as services, cases as requests."""
