"""The demo district: Minhang with its real outline, 14 towns and 596 communities (official codes and
names; polygons and populations synthetic, see ``data/PROVENANCE.md``), ~37,000 generated unit grids,
the linkage centre's units, teams with members, a police-beat layer and one demo user per role.
"""

from __future__ import annotations

import json
import secrets
from importlib import resources

import numpy as np
import shapely
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from liandong.areas import gridgen, layers
from liandong.areas.geometry import from_wkb
from liandong.areas.models import Area
from liandong.areas.service import bump_revision, import_geojson
from liandong.auth import audit
from liandong.auth.service import create_user
from liandong.cases.calendar import seed_from_chinesecalendar
from liandong.catalogue import service as catalogue
from liandong.demo import activity, cluster, drill, screening
from liandong.intake.open311 import service as open311
from liandong.units.models import TeamMember, Unit

DISTRICT = "310112"
DEMO_TOWN = "310112102"  # 七宝镇: the town_handler's town

DEPARTMENTS = {
    "public_security": "闵行区公安分局",
    "fire": "闵行区消防救援支队",
    "city_management": "闵行区城市管理行政执法局",
    "construction_transport": "闵行区建设和管理委员会",
    "emergency": "闵行区应急管理局",
    "market_supervision": "闵行区市场监督管理局",
    "ecology_environment": "闵行区生态环境局",
    "housing": "闵行区房屋管理局",
    "water": "闵行区水务局",
    "greening": "闵行区绿化和市容管理局",
    "health": "闵行区卫生健康委员会",
    "civil_affairs": "闵行区民政局",
}
BRANCH_SUFFIX = {
    "public_security": "派出所",
    "fire": "消防救援站",
    "city_management": "城管执法中队",
    "construction_transport": "建设管理办公室",
    "emergency": "安全生产监督管理所",
    "market_supervision": "市场监督管理所",
    "ecology_environment": "生态环境办公室",
    "housing": "房管办事处",
    "water": "水务管理站",
    "greening": "绿化市容管理所",
    "health": "社区卫生服务中心",
    "civil_affairs": "社区事务受理服务中心",
}
# The source article: community workstations integrate six teams; street grids use two.
COMMUNITY_TEAMS = ("就业援助员", "助残员", "房管协管员", "社区治安协管员", "综合协管员", "社区文化活动服务管理员")
STREET_TEAMS = (("市容协管队", "greening"), ("治安巡逻队", "public_security"))
ROLES = ("admin", "receptionist", "shift_leader", "dispatcher", "handler", "inspector", "commander", "leader",
         "citizen")
ROLE_NAMES = {
    "admin": "系统管理员", "receptionist": "受理员", "shift_leader": "值班长", "dispatcher": "派遣员",
    "handler": "城管执法处置员", "inspector": "监督员", "commander": "指挥长", "leader": "区领导", "citizen": "市民",
}
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
    "肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红燕文辉建国海燕志坚晓东春梅"


def _data(name: str) -> dict:
    return json.loads(resources.files("liandong.demo").joinpath("data", name).read_text(encoding="utf-8"))


def is_loaded(session: Session) -> bool:
    return session.scalar(select(Area.id).where(Area.code == DISTRICT)) is not None


def load(session: Session, password: str | None = None, *, target_m2: float = 10_000.0,
         check_passwords: bool = True, cases: int = 0, open311_key: str | None = None,
         with_drill: bool | None = None, with_cluster: bool | None = None,
         with_screening: bool | None = None) -> dict:
    """Load the whole demo district into an empty database; returns the demo credentials and counts.

    ``cases`` > 0 adds a month of demo activity (demo/activity.py) so the command centre has figures, and (unless
    ``with_drill`` is False) the typhoon drill of demo/drill.py, and (unless ``with_cluster`` is False) the
    early-warning burst of demo/cluster.py, scanned so that a warning exists, and (unless ``with_screening`` is
    False) a month of safety hazards and disputes (demo/screening.py)."""
    if is_loaded(session):
        return {"loaded": False, "reason": "the demo district is already in the database"}
    password = password or secrets.token_urlsafe(12)
    for name in ("minhang_outline.geojson", "minhang_towns.geojson", "minhang_communities.geojson"):
        import_geojson(session, _data(name))
    grids = gridgen.generate(session, DISTRICT, target_m2=target_m2)
    groups = gridgen.group_into_responsibility_grids(session, DISTRICT)
    catalogue.load_standard(session)
    seed_from_chinesecalendar(session)
    units = _units(session)
    members = _members(session)
    beats = _police_beats(session)
    users = _users(session, password, check_passwords)
    bump_revision(session)
    made = activity.generate(session, cases)["cases"] if cases else 0
    burst = cluster.seed(session) if (cases > 0 if with_cluster is None else with_cluster) else None
    staged = drill.run(session) if (cases > 0 if with_drill is None else with_drill) else None
    screened = screening.generate(session) if (cases > 0 if with_screening is None else with_screening) else None
    _, open311_key = open311.create_key(session, "demo", "demo", open311_key or secrets.token_urlsafe(24))
    audit.record(session, "demo_loaded", detail={"grids": grids["grids"], "units": units, "members": members,
                                                 "cases": made})
    return {"loaded": True, "password": password, "users": users, "grids": grids["grids"],
            "responsibility_grids": groups["responsibility_grids"], "units": units,
            "members": members, "police_beats": beats, "cases": made, "open311_key": open311_key, "drill": staged,
            "early_warnings": burst["warnings"] if burst else [], "screening": screened}


def _units(session: Session) -> int:
    areas = {a.code: a for a in session.scalars(select(Area).where(Area.level.in_(("district", "town", "community"))))}
    district = areas[DISTRICT]
    towns = sorted((a for a in areas.values() if a.level == "town"), key=lambda a: a.code)
    comms = sorted((a for a in areas.values() if a.level == "community"), key=lambda a: a.code)
    rows: list[dict] = []

    def add(code, name, kind, area, parent=None, line=None):
        rows.append({"code": code, "name": name, "kind": kind, "area_id": area.id, "parent_code": parent,
                     "line": line, "phone": None})

    add("LD-310112", "闵行区城市综合管理和应急联动中心", "centre", district)
    for line, name in DEPARTMENTS.items():
        add(f"DEPT-{line}", name, "department", district, "LD-310112", line)
    for t in towns:
        add(f"LD-{t.code}", f"{t.name}联动分中心", "sub_centre", t, "LD-310112")
        short = t.name.removesuffix("街道").removesuffix("镇").removesuffix("路")
        for line, suffix in BRANCH_SUFFIX.items():
            prefix = short if line in ("public_security", "fire") else t.name
            add(f"DEPT-{line}-{t.code}", f"{prefix}{suffix}", "branch", t, f"DEPT-{line}", line)
        for team, line in STREET_TEAMS:
            add(f"TEAM-{t.code}-{line}", f"{t.name}{team}", "team", t, f"LD-{t.code}", line)
    for c in comms:
        town_code = c.code[:9]
        add(f"LD-{c.code}", f"{c.name.removesuffix('委会')}联动工作站", "workstation", c, f"LD-{town_code}")
        for i, team in enumerate(COMMUNITY_TEAMS, start=1):
            add(f"TEAM-{c.code}-{i}", f"{c.name.removesuffix('委会')}{team}队伍", "team", c, f"LD-{c.code}")
    parents = {r["code"]: r.pop("parent_code") for r in rows}
    for i in range(0, len(rows), 2000):
        session.execute(insert(Unit), [{**r, "parent_id": None} for r in rows[i : i + 2000]])
    ids = dict(session.execute(select(Unit.code, Unit.id)).all())
    payload = [{"b_id": ids[c], "b_parent": ids[p]} for c, p in parents.items() if p]
    table = Unit.__table__
    stmt = update(table).where(table.c.id == bindparam("b_id")).values(parent_id=bindparam("b_parent"))
    session.connection().execute(stmt, payload)
    return len(rows)


def _members(session: Session) -> int:
    """Synthetic members: two per community team, six per street team; phones are made up."""
    rng = np.random.default_rng(20121)
    teams = session.execute(select(Unit.id, Unit.code, Unit.name).where(Unit.kind == "team").order_by(Unit.code))
    rows = []
    for tid, code, name in teams:
        n = 2 if code.split("-")[-1].isdigit() else 6  # community teams end in a digit
        for _ in range(n):
            surname = _SURNAMES[rng.integers(len(_SURNAMES))]
            given = "".join(_GIVEN[k] for k in rng.integers(len(_GIVEN), size=rng.integers(1, 3)))
            rows.append({"unit_id": tid, "name": surname + given, "title": name[-6:],
                         "phone": "139" + "".join(str(d) for d in rng.integers(10, size=8))})
    for i in range(0, len(rows), 5000):
        session.execute(insert(TeamMember), rows[i : i + 5000])
    return len(rows)


def _police_beats(session: Session, n: int = 48) -> dict:
    """A police-beat layer (警务区) that does not follow town borders, mapped onto the grids (多网合一)."""
    district = session.scalar(select(Area).where(Area.code == DISTRICT))
    outline = from_wkb(district.geom)
    rng = np.random.default_rng(110)
    minx, miny, maxx, maxy = outline.bounds
    pts = []
    while len(pts) < n:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if outline.contains(shapely.Point(x, y)):
            pts.append((x, y))
    cells = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=outline.envelope.buffer(0.05))
    towns = list(session.scalars(select(Area).where(Area.level == "town").order_by(Area.code)))
    town_geoms = [from_wkb(t.geom) for t in towns]
    features = []
    for i, cell in enumerate(cells.geoms, start=1):
        beat = cell.intersection(outline)
        if beat.is_empty or beat.area == 0:
            continue
        centre = beat.representative_point()
        town = next((t for t, g in zip(towns, town_geoms, strict=True) if g.intersects(centre)), towns[0])
        features.append({
            "type": "Feature",
            "properties": {"code": f"JWQ{i:03d}", "name": f"{town.name.removesuffix('镇').removesuffix('街道')}"
                                                           f"第{i:02d}警务区",
                           "unit": f"DEPT-public_security-{town.code}"},
            "geometry": shapely.geometry.mapping(shapely.make_valid(beat)),
        })
    return layers.import_layer(session, {"type": "FeatureCollection", "features": features},
                               code="police-beats", name="闵行公安警务区（演示）", line="public_security")


def _users(session: Session, password: str, check_passwords: bool) -> list[dict]:
    out = []
    for role in ROLES:
        unit = "DEPT-city_management" if role == "handler" else "LD-310112"
        create_user(session, username=role, password=password, unit_code=unit, roles=[role],
                    display_name=ROLE_NAMES[role], check_password=check_passwords)
        out.append({"username": role, "roles": [role], "unit": unit})
    create_user(session, username="town_handler", password=password, unit_code=f"LD-{DEMO_TOWN}",
                roles=["handler"], display_name="七宝镇处置员", check_password=check_passwords)
    out.append({"username": "town_handler", "roles": ["handler"], "unit": f"LD-{DEMO_TOWN}"})
    return out
