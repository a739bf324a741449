"""Server-rendered pages (Jinja2) and static assets; vendor libraries come from npm."""
