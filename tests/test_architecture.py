"""The shape of the code, read from its imports and calls (``ast``), not from running it.

- Domain folders depend on each other without cycles (DESIGN §3: a domain imports lower domains, never a
  higher one). Every import counts, at module level or inside a function. One edge is left out: routers
  importing ``liandong.auth.deps``, the HTTP edge every router needs (the request's unit of work, the
  caller, roles), which sits above all domains although it lives in ``auth``.
- The modules outside the domain folders (``db``, ``errors``, ``audit``…) import no domain: they are the
  floor everything stands on (``db`` loads ``liandong.models``, the mapper registry, to resolve foreign keys).
- Routers hold no SQL, do not commit and write no audit records: the request's unit of work commits once
  (``auth/deps.py``), services own queries, rules and the audit log.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "liandong"
DOMAINS = ("areas", "units", "auth", "catalogue", "cases", "emergency", "screening", "assessment", "components",
           "intake", "live", "web", "demo", "sim", "ops")
HTTP_EDGE = "liandong.auth.deps"
COMPOSITION_ROOTS = {"liandong.app", "liandong.cli", "liandong.models", "liandong.__main__"}
UNITS_OF_WORK = {"liandong.db", "liandong.auth.deps"}
SESSION_NAMES = {"session", "s", "db"}
SQL_METHODS = {"execute", "scalar", "scalars", "add", "add_all", "get", "delete", "merge", "query", "flush",
               "refresh", "begin", "begin_nested"}
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "func"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py") if "migrations" not in p.parts}


def is_router(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 3 and (parts[-1] == "api" or parts[-1].endswith("_api") or parts[1] == "web")


def domain_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in DOMAINS else None


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"), filename=str(modules()[name]))


@cache
def imports(name: str) -> tuple[tuple[str, int], ...]:
    """(imported module, line) for every import anywhere in the module; ``from a import b`` counts as
    ``a.b`` when ``b`` is a module of ours."""
    found = []
    package = name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.append((target if target in modules() else base, node.lineno))
    return tuple(dict.fromkeys((m, line) for m, line in found if m == "liandong" or m.startswith("liandong.")))


def domain_edges() -> dict[tuple[str, str], list[str]]:
    """(importing domain, imported domain) → where, e.g. ``liandong.areas.index:24 imports liandong.units.models``."""
    edges: dict[tuple[str, str], list[str]] = {}
    for name in modules():
        source = domain_of(name)
        if source is None:
            continue
        for target, line in imports(name):
            if target == HTTP_EDGE and is_router(name):
                continue
            dest = domain_of(target)
            if dest is not None and dest != source:
                edges.setdefault((source, dest), []).append(f"{name}:{line} imports {target}")
    return edges


def find_cycle(edges: dict[tuple[str, str], list[str]]) -> list[str] | None:
    """A cycle of domains (first == last), or None."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle_between_domains():
    edges = domain_edges()
    cycle = find_cycle(edges)
    if cycle:
        evidence = [f"  {a} → {b}: " + "; ".join(edges[(a, b)]) for a, b in zip(cycle, cycle[1:], strict=False)]
        pytest.fail("domains import each other in a cycle " + " → ".join(cycle) + ":\n" + "\n".join(evidence))


def test_areas_below_units_below_auth():
    """The direction DESIGN gives: a unit's jurisdiction is an area, a user belongs to a unit."""
    edges = domain_edges()
    assert not [w for pair in (("areas", "units"), ("areas", "auth"), ("units", "auth")) for w in edges.get(pair, [])]


def test_only_routers_use_the_http_edge():
    users = [f"{name}:{line}" for name in modules() for target, line in imports(name)
             if target == HTTP_EDGE and not is_router(name) and name not in COMPOSITION_ROOTS | {HTTP_EDGE}]
    assert not users, f"services must not depend on the request (auth/deps.py): {users}"


def test_base_modules_import_no_domain():
    wrong = []
    for name in modules():
        if domain_of(name) is not None or name in COMPOSITION_ROOTS or name == "liandong":
            continue
        for target, line in imports(name):
            if domain_of(target) is not None or (target == "liandong.models" and name != "liandong.db"):
                wrong.append(f"{name}:{line} imports {target}")
    assert not wrong


def test_the_cycle_finder_finds_cycles():
    edges = {("areas", "units"): ["x"], ("units", "auth"): ["y"], ("auth", "areas"): ["z"], ("cases", "areas"): []}
    assert find_cycle(edges) == ["areas", "units", "auth", "areas"]
    assert find_cycle({("cases", "areas"): [], ("intake", "cases"): []}) is None


def _receiver(node: ast.expr) -> str | None:
    """The name a method is called on: ``session`` in ``session.get(...)`` and ``principal.session.get(...)``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def router_offences(module: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, on = node.func.attr, _receiver(node.func.value)
            if method in ("commit", "rollback"):
                found.append(f"line {node.lineno}: .{method}() (the unit of work commits, auth/deps.py)")
            elif method in SQL_METHODS and on in SESSION_NAMES:
                found.append(f"line {node.lineno}: {on}.{method}() (SQL belongs in a service)")
            elif method == "record" and on == "audit":
                found.append(f"line {node.lineno}: audit.record() (services write the audit log)")
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
            if built := sorted(a.name for a in node.names if a.name in SQL_BUILDERS):
                found.append(f"line {node.lineno}: imports {', '.join(built)} from sqlalchemy (SQL is a service's)")
        elif (isinstance(node, ast.ImportFrom) and node.module in ("liandong", "liandong.auth")
              and any(a.name == "audit" for a in node.names)):
            found.append(f"line {node.lineno}: imports the audit log (services write it)")
    return found


ROUTERS = sorted(name for name in modules() if is_router(name))


def test_the_router_list_is_complete():
    assert {"liandong.areas.api", "liandong.cases.api", "liandong.cases.calendar_api", "liandong.web.pages",
            "liandong.intake.open311.api", "liandong.live.api"} <= set(ROUTERS)


@pytest.mark.parametrize("router", ROUTERS)
def test_routers_hold_no_sql_commit_or_audit(router):
    offences = router_offences(tree(router))
    assert not offences, f"{router}: " + "; ".join(offences)


def test_the_router_check_sees_what_it_should():
    source = ("from sqlalchemy import select\nfrom liandong.auth import audit\n"
              "def f(session, principal, request):\n    session.scalar(select(1))\n    principal.session.get(1, 2)\n"
              "    audit.record(session, 'x')\n    session.commit()\n    request.app.state.grid_index.get(session)\n")
    assert len(router_offences(ast.parse(source))) == 6


def test_nothing_but_the_units_of_work_commits():
    """Services never commit; the request's unit of work (auth/deps.py) and the CLI's (db.unit_of_work) do."""
    found = [f"{name}:{node.lineno}" for name in modules() if name not in UNITS_OF_WORK
             for node in ast.walk(tree(name))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"]
    assert not found
