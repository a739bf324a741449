"""Build the demo district's SYNTHETIC town and community polygons for Minhang (闵行区, Shanghai).

Why: no public polygons exist below district level for Minhang, yet the demo needs labelled towns (街镇) and
communities (居委会/村委会) with the official NBS 2023 codes and names. So we take the real district outline
(DataV, GCJ-02 → WGS84) and partition it deterministically into plausible-looking areas:

* towns: a noisy power diagram on ~0.12 km² Voronoi cells, weights tuned until each town has roughly its
  real-world area; each town contains its approximate centre point (seed);
* communities: per town, weighted k-means on a fine point sample (density falling off with distance from the
  seed, so residential committees are small and central, villages large and outer), clipped Voronoi cells;
* everything is noded once on a 1e-6° grid and polygonised, so neighbours share exactly the same vertices.

Populations are synthetic too (they sum to the 2010-census 2,429,000). Run:
``.venv/bin/python -m liandong.demo.build_polygons [--shared PATH]``
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, shape
from shapely.ops import nearest_points

from liandong.areas.crs import transform_geometry
from liandong.areas.geometry import area_m2, metres_per_degree

RNG_SEED = 310112
GRID = 1e-6
"""Coordinate grid in degrees (6 decimals, ~0.1 m); all geometry operations snap to it."""
DISTRICT_CODE = "310112"
DISTRICT_NAME = "闵行区"
DISTRICT_POPULATION = 2_429_000
DATA_DIR = Path(__file__).resolve().parent / "data"
REPO_ROOT = Path(__file__).resolve().parents[3]
OUTLINE_FILE = "minhang_outline.geojson"
TOWNS_FILE = "minhang_towns.geojson"
COMMUNITIES_FILE = "minhang_communities.geojson"

TOWN_TARGET_KM2 = {
    "310112001": 21.0,  # 江川路街道
    "310112006": 7.0,  # 古美街道
    "310112008": 19.0,  # 新虹街道
    "310112009": 22.0,  # 浦锦街道
    "310112101": 20.0,  # 莘庄镇
    "310112102": 21.0,  # 七宝镇
    "310112103": 21.0,  # 颛桥镇
    "310112106": 46.0,  # 华漕镇
    "310112107": 17.0,  # 虹桥镇
    "310112108": 26.0,  # 梅陇镇
    "310112110": 32.0,  # 吴泾镇
    "310112112": 30.0,  # 马桥镇
    "310112114": 88.0,  # 浦江镇
    "310112501": 17.0,  # 莘庄工业区
}
"""Rough real-world areas; rescaled to the outline's area. Plausibility, not exactness, is the aim."""

TOWN_CELL_M = 350.0
"""Spacing of the fine cells that towns are built from (sets how jagged town borders are)."""
SAMPLE_M = 80.0
"""Spacing of the point sample used for the community k-means."""
VILLAGE_AREA_RATIO = 4.0
"""Target area of a village cell relative to a central residential cell."""
SEED_MIN_INSIDE_M = 200.0
SEED_MOVE_INSIDE_M = 300.0
SOURCE_NOTE = ("Outline: DataV GeoAtlas via lyhmyd1211/GeoMapData_CN county/310112.json (AutoNavi-derived, GCJ-02 "
               "converted to WGS84; license unclear, demo/test use only)")


@dataclass(frozen=True)
class Frame:
    """Local equirectangular frame in metres, good enough for sampling and Voronoi at district scale."""

    lon0: float
    lat0: float
    mx: float
    my: float

    @classmethod
    def around(cls, geom: shapely.Geometry) -> Frame:
        c = geom.centroid
        mx, my = metres_per_degree(c.y)
        return cls(c.x, c.y, mx, my)

    def to_m(self, geom):
        return shapely.transform(geom, lambda c: np.column_stack([(c[:, 0] - self.lon0) * self.mx,
                                                                 (c[:, 1] - self.lat0) * self.my]))

    def to_deg(self, geom):
        return shapely.transform(geom, lambda c: np.column_stack([c[:, 0] / self.mx + self.lon0,
                                                                 c[:, 1] / self.my + self.lat0]))

    def xy(self, lon, lat) -> np.ndarray:
        return np.column_stack([(np.asarray(lon) - self.lon0) * self.mx, (np.asarray(lat) - self.lat0) * self.my])


@dataclass
class Town:
    code: str
    name: str
    kind: str
    lon: float
    lat: float
    moved: bool = False


@dataclass
class Community:
    code: str
    name: str
    kind: str  # "residential" | "village"
    parent: str


# --- inputs -------------------------------------------------------------------------------------------------


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygonal parts; a one-part MultiPolygon becomes a Polygon."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    if len(parts) == 1:
        return parts[0]
    return shapely.MultiPolygon(parts)


def load_outline(shared: Path) -> shapely.Geometry:
    """Real Minhang outline, GCJ-02 → WGS84, snapped to the 1e-6° grid and made valid."""
    raw = json.loads((shared / "boundaries/datav_gcj02/minhang_outline_310112.json").read_text(encoding="utf-8"))
    geom = shapely.union_all([shape(f["geometry"]) for f in raw["features"]])
    geom = transform_geometry(geom, "gcj02")
    geom = shapely.make_valid(shapely.set_precision(geom, GRID))
    return polygonal(geom)


def load_towns(shared: Path) -> list[Town]:
    with (shared / "minhang/town_seeds.csv").open(encoding="utf-8") as fh:
        return [Town(r["code"], r["name"], r["kind"], float(r["approx_lon"]), float(r["approx_lat"]))
                for r in csv.DictReader(fh)]


def load_communities(shared: Path) -> list[Community]:
    """Minhang's village-level units from the NBS 2023 code table, sorted by code."""
    out = []
    with (shared / "admin_codes/nbs2023_modood/shanghai_villages.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if not r["code"].startswith(DISTRICT_CODE):
                continue
            name = r["name"]
            if name.endswith("居委会"):
                kind = "residential"
            elif name.endswith("村委会"):
                kind = "village"
            else:
                raise ValueError(f"unexpected community name {name!r}")
            out.append(Community(r["code"], name, kind, r["code"][:9]))
    return sorted(out, key=lambda c: c.code)


def place_seeds(outline_m: shapely.Geometry, towns: list[Town], frame: Frame) -> np.ndarray:
    """Seeds in metres; one outside (or hugging) the outline is moved to the nearest point 300 m inside."""
    pts = frame.xy([t.lon for t in towns], [t.lat for t in towns])
    inner = outline_m.buffer(-SEED_MOVE_INSIDE_M)
    boundary = outline_m.boundary
    for i, t in enumerate(towns):
        p = Point(pts[i])
        if not outline_m.contains(p) or boundary.distance(p) < SEED_MIN_INSIDE_M:
            q = nearest_points(inner, p)[0]
            pts[i] = (q.x, q.y)
            t.moved = True
    return pts


# --- geometry machinery -------------------------------------------------------------------------------------


def jittered_grid(bounds: tuple[float, float, float, float], spacing: float, rng: np.random.Generator,
                  jitter: float = 0.35) -> np.ndarray:
    minx, miny, maxx, maxy = bounds
    xs = np.arange(minx + spacing / 2, maxx, spacing)
    ys = np.arange(miny + spacing / 2, maxy, spacing)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    return pts + rng.uniform(-jitter, jitter, pts.shape) * spacing


def voronoi_deg(points_m: np.ndarray, frame: Frame, extent_m: shapely.Geometry) -> np.ndarray:
    """Voronoi cells of metric points, in input order, converted to degrees."""
    cells = shapely.voronoi_polygons(shapely.multipoints(points_m), extend_to=extent_m, ordered=True)
    return np.array([frame.to_deg(c) for c in shapely.get_parts(cells)], dtype=object)


def clip_pieces(cells: np.ndarray, region: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Clip cells to ``region`` on the grid; return polygon pieces and the index of the cell each came from."""
    clipped = shapely.intersection(cells, region, grid_size=GRID)
    parts, idx = shapely.get_parts(clipped, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep], idx[keep]


def polygonize_partition(pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node all piece borders together and polygonise: faces share identical edges by construction.

    Returns the faces and, for each face, the index of the piece it overlaps most.
    """
    noded = shapely.union_all(shapely.boundary(pieces), grid_size=GRID)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    tree = shapely.STRtree(pieces)
    fi, pj = tree.query(faces, predicate="intersects")
    overlap = shapely.area(shapely.intersection(faces[fi], pieces[pj]))
    owner = np.full(len(faces), -1)
    best = np.zeros(len(faces))
    for f, p, a in zip(fi, pj, overlap, strict=True):
        if a > best[f]:
            best[f], owner[f] = a, p
    lost = np.flatnonzero(owner < 0)  # snapping slivers between pieces: give them to the nearest piece
    if len(lost):
        fl, pl = tree.query_nearest(faces[lost], all_matches=False)
        owner[lost[fl]] = pl
    return faces, owner


def adjacency(faces: np.ndarray) -> list[dict[int, float]]:
    """For each face, its neighbours and the length (degrees, only used for ranking) of the shared border."""
    tree = shapely.STRtree(faces)
    i, j = tree.query(faces, predicate="intersects")
    sel = i < j
    i, j = i[sel], j[sel]
    shared = shapely.length(shapely.intersection(shapely.boundary(faces[i]), shapely.boundary(faces[j])))
    adj: list[dict[int, float]] = [{} for _ in range(len(faces))]
    for a, b, length in zip(i, j, shared, strict=True):
        if length > 0:
            adj[a][b] = length
            adj[b][a] = length
    return adj


def components(members: list[int], adj: list[dict[int, float]]) -> list[list[int]]:
    todo = set(members)
    comps = []
    while todo:
        start = todo.pop()
        comp, stack = [start], [start]
        while stack:
            for n in adj[stack.pop()]:
                if n in todo:
                    todo.remove(n)
                    comp.append(n)
                    stack.append(n)
        comps.append(comp)
    return comps


def merge_strays(labels: np.ndarray, adj: list[dict[int, float]], face_area: np.ndarray,
                 anchor: dict[int, int], group: np.ndarray | None = None) -> np.ndarray:
    """Make every label one edge-connected set of faces.

    The component holding the label's anchor face (else the largest) stays; every other component goes to
    the neighbouring label (restricted to the same ``group`` when given) sharing the longest border with it.
    """
    labels = labels.copy()
    for _ in range(50):
        changed = False
        by_label: dict[int, list[int]] = defaultdict(list)
        for f, lab in enumerate(labels):
            by_label[int(lab)].append(f)
        for lab, members in by_label.items():
            comps = components(members, adj)
            if len(comps) < 2:
                continue
            if lab in anchor:
                keep = next(k for k, c in enumerate(comps) if anchor[lab] in c)
            else:
                keep = int(np.argmax([face_area[c].sum() for c in comps]))
            for k, comp in enumerate(comps):
                if k == keep:
                    continue
                border: dict[int, float] = defaultdict(float)
                for f in comp:
                    for n, length in adj[f].items():
                        other = int(labels[n])
                        if other != lab and (group is None or group[other] == group[lab]):
                            border[other] += length
                if border:
                    labels[comp] = max(border, key=border.__getitem__)
                    changed = True
        if not changed:
            return labels
    raise RuntimeError("stray pieces did not settle")


def dissolve(faces: np.ndarray, labels: np.ndarray, n: int) -> list[shapely.Geometry]:
    out = []
    for lab in range(n):
        members = faces[labels == lab]
        out.append(polygonal(shapely.union_all(members, grid_size=GRID)) if len(members) else Polygon())
    return out


def face_containing(faces: np.ndarray, point_deg: Point) -> int:
    hits = shapely.STRtree(faces).query(point_deg, predicate="within")
    if len(hits) == 0:
        return int(np.argmin(shapely.distance(faces, point_deg)))
    return int(hits[0])


# --- towns --------------------------------------------------------------------------------------------------


def smooth_noise(pts: np.ndarray, rng: np.random.Generator, n_fields: int, amplitude: float) -> np.ndarray:
    """Per field, a sum of three random plane waves (|value| ≲ 1.7·amplitude): smooth noise so borders meander."""
    out = np.zeros((len(pts), n_fields))
    for k in range(n_fields):
        for _ in range(3):
            wavelength = rng.uniform(2500.0, 6000.0)
            theta = rng.uniform(0, 2 * np.pi)
            phase = rng.uniform(0, 2 * np.pi)
            direction = np.array([np.cos(theta), np.sin(theta)]) * 2 * np.pi / wavelength
            out[:, k] += np.sin(pts @ direction + phase)
    return out * amplitude / np.sqrt(3)


def grow(seeds: range, pt_adj: list[dict[int, float]], speed: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Competitive region growing (multi-source Dijkstra): each point goes to the town whose front reaches it
    first. Town ``i`` travels at ``speed[i]`` and pays ``cost[p, i]`` per metre at point ``p``; regions are
    connected by construction and follow the outline's shape."""
    owner = np.full(len(pt_adj), -1)
    heap = [(0.0, i, i) for i in seeds]  # (arrival time, town, point); point i is seed i
    while heap:
        t, town, p = heapq.heappop(heap)
        if owner[p] >= 0:
            continue
        owner[p] = town
        for n, length in pt_adj[p].items():
            if owner[n] < 0:
                heapq.heappush(heap, (t + length * cost[n, town] / speed[town], town, n))
    return owner


def build_towns(outline: shapely.Geometry, towns: list[Town], seeds_m: np.ndarray, frame: Frame,
                rng: np.random.Generator) -> list[shapely.Geometry]:
    """Partition the outline into one connected polygon per town with roughly the target areas.

    Why region growing rather than a weighted Voronoi: seeds are fixed and some are close together while
    their towns differ in size a lot (华漕 vs 新虹), which power diagrams cannot do without losing seeds.
    """
    outline_m = frame.to_m(outline)
    extent = shapely.box(*outline_m.buffer(3000).bounds)
    pts = jittered_grid(outline_m.buffer(TOWN_CELL_M).bounds, TOWN_CELL_M, rng)
    near_seed = np.min(np.linalg.norm(pts[:, None, :] - seeds_m[None, :, :], axis=2), axis=1) < TOWN_CELL_M / 2
    pts = np.vstack([seeds_m, pts[~near_seed]])  # the first len(towns) points are the seeds
    cells = voronoi_deg(pts, frame, extent)
    pieces, piece_pt = clip_pieces(cells, outline)
    faces, owner = polygonize_partition(pieces)
    face_pt = piece_pt[owner]
    face_area = area_m2(faces)
    pt_area = np.bincount(face_pt, weights=face_area, minlength=len(pts))
    adj = adjacency(faces)
    pt_adj: list[dict[int, float]] = [{} for _ in range(len(pts))]
    for f, nbrs in enumerate(adj):
        for n in nbrs:
            a, b = int(face_pt[f]), int(face_pt[n])
            if a != b:
                pt_adj[a][b] = float(np.linalg.norm(pts[a] - pts[b]))

    target = np.array([TOWN_TARGET_KM2[t.code] for t in towns])
    target = target / target.sum() * pt_area.sum()
    cost = np.exp(0.35 * smooth_noise(pts, rng, len(towns), amplitude=1.0))  # meandering borders
    speed = np.sqrt(target / target.mean())
    best_err, best_lab = np.inf, np.zeros(len(pts), dtype=int)
    for _ in range(120):
        lab = grow(range(len(towns)), pt_adj, speed, cost)
        area = np.bincount(lab[lab >= 0], weights=pt_area[lab >= 0], minlength=len(towns))
        err = np.abs(area / target - 1).max()
        if err < best_err:
            best_err, best_lab = err, lab.copy()
        speed *= (target / np.maximum(area, 1.0)) ** 0.3
    unreached = best_lab < 0  # cannot happen for a connected outline; give any to the nearest seed
    best_lab[unreached] = np.argmin(((pts[unreached, None, :] - seeds_m[None]) ** 2).sum(axis=2), axis=1)
    labels = best_lab[face_pt]
    anchors = {i: face_containing(faces, frame.to_deg(Point(seeds_m[i]))) for i in range(len(towns))}
    labels = merge_strays(labels, adj, face_area, anchors)
    return dissolve(faces, labels, len(towns))


# --- communities --------------------------------------------------------------------------------------------


def sample_density(dist: np.ndarray, n_res: int, n_vil: int) -> np.ndarray:
    """Sample weight per point: high near the seed (small residential cells), low outside (large villages).

    ``dist`` ranks the points by distance from the seed; k-means cell area scales like density^-1/2, so the
    density ratio is the square of the wanted area ratio.
    """
    frac = np.empty(len(dist))
    frac[np.argsort(dist)] = (np.arange(len(dist)) + 0.5) / len(dist)  # share of the town closer to the seed
    if n_vil == 0:
        area_ratio = 1.0 + 1.5 * frac  # streets: cells grow gently outwards
        return area_ratio ** -2
    inner = n_res / (n_res + VILLAGE_AREA_RATIO * n_vil)
    ramp = 1.0 / (1.0 + np.exp((frac - inner) / 0.06))  # 1 inside the residential core, 0 outside
    area_ratio = ramp * (1.0 + 0.8 * frac / max(inner, 1e-9)) + (1 - ramp) * VILLAGE_AREA_RATIO
    return area_ratio ** -2


def weighted_kmeans(pts: np.ndarray, weight: np.ndarray, k: int, rng: np.random.Generator,
                    n_iter: int = 40) -> np.ndarray:
    centres = pts[rng.choice(len(pts), size=k, replace=False, p=weight / weight.sum())]
    for _ in range(n_iter):
        d2 = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        lab = np.argmin(d2, axis=1)
        mass = np.bincount(lab, weights=weight, minlength=k)
        sx = np.bincount(lab, weights=weight * pts[:, 0], minlength=k)
        sy = np.bincount(lab, weights=weight * pts[:, 1], minlength=k)
        empty = mass == 0
        centres = np.column_stack([sx, sy]) / np.where(empty, 1.0, mass)[:, None]
        if empty.any():  # restart empty clusters on the worst-served points
            worst = np.argsort(-d2[np.arange(len(pts)), lab] * weight)[: int(empty.sum())]
            centres[empty] = pts[worst]
    return centres


def community_generators(town_m: shapely.Geometry, seed_m: np.ndarray, n_res: int, n_vil: int,
                         rng: np.random.Generator) -> np.ndarray:
    pts = jittered_grid(town_m.bounds, SAMPLE_M, rng)
    pts = pts[shapely.contains_xy(town_m, pts[:, 0], pts[:, 1])]
    dist = np.linalg.norm(pts - seed_m, axis=1)
    return weighted_kmeans(pts, sample_density(dist, n_res, n_vil), n_res + n_vil, rng)


def build_communities(towns: list[Town], town_geoms: list[shapely.Geometry], seeds_m: np.ndarray,
                      comms: list[Community], frame: Frame, rng: np.random.Generator
                      ) -> tuple[list[shapely.Geometry], list[shapely.Geometry], list[Community]]:
    """Partition every town into its communities; returns final towns, communities and their labels."""
    by_town: dict[str, list[Community]] = defaultdict(list)
    for c in comms:
        by_town[c.parent].append(c)
    all_pieces, piece_cell, cell_town = [], [], []
    for ti, town in enumerate(towns):
        members = by_town[town.code]
        n_res = sum(c.kind == "residential" for c in members)
        town_m = frame.to_m(town_geoms[ti])
        gens = community_generators(town_m, seeds_m[ti], n_res, len(members) - n_res, rng)
        cells = voronoi_deg(gens, frame, shapely.box(*town_m.buffer(3000).bounds))
        pieces, idx = clip_pieces(cells, town_geoms[ti])
        all_pieces.append(pieces)
        piece_cell.append(idx + len(cell_town))
        cell_town.extend([ti] * len(gens))
    pieces = np.concatenate(all_pieces)
    faces, owner = polygonize_partition(pieces)
    cell_town_arr = np.array(cell_town)
    labels = np.concatenate(piece_cell)[owner]
    face_area = area_m2(faces)
    adj = adjacency(faces)

    # 1) each town one connected piece: stray town parts go to the neighbouring town's best community
    town_of_face = cell_town_arr[labels]
    anchors = {ti: face_containing(faces, frame.to_deg(Point(seeds_m[ti]))) for ti in range(len(towns))}
    fixed_town = merge_strays(town_of_face, adj, face_area, anchors)
    pending = set(np.flatnonzero(fixed_town != town_of_face).tolist())
    while pending:  # flood the moved faces from their new town's side
        progress = False
        for f in sorted(pending):
            border: dict[int, float] = defaultdict(float)
            for n, length in adj[f].items():
                if n not in pending and fixed_town[n] == fixed_town[f]:
                    border[int(labels[n])] += length
            if border:
                labels[f] = max(border, key=border.__getitem__)
                pending.discard(f)
                progress = True
        if not progress:
            raise RuntimeError("could not reattach stray town pieces")
    # 2) each community one connected piece within its town
    labels = merge_strays(labels, adj, face_area, {}, group=cell_town_arr)
    cell_geoms = dissolve(faces, labels, len(cell_town))

    # 3) codes: residential committees to the cells nearest the seed, villages to the outer ones
    comm_geoms: list[shapely.Geometry] = []
    ordered: list[Community] = []
    for ti, town in enumerate(towns):
        cells = [c for c in np.flatnonzero(cell_town_arr == ti) if not cell_geoms[c].is_empty]
        members = by_town[town.code]
        if len(cells) != len(members):
            raise RuntimeError(f"{town.name}: {len(cells)} cells for {len(members)} communities")
        seed = frame.to_deg(Point(seeds_m[ti]))
        cells.sort(key=lambda c: shapely.distance(cell_geoms[c].centroid, seed))
        res = [c for c in members if c.kind == "residential"]
        vil = [c for c in members if c.kind == "village"]
        for comm, cell in zip(res + vil, cells, strict=True):
            ordered.append(comm)
            comm_geoms.append(cell_geoms[cell])
    town_out = [polygonal(shapely.union_all([g for g, c in zip(comm_geoms, ordered, strict=True)
                                             if c.parent == t.code], grid_size=GRID)) for t in towns]
    order = np.argsort([c.code for c in ordered])
    return town_out, [comm_geoms[i] for i in order], [ordered[i] for i in order]


# --- population ---------------------------------------------------------------------------------------------


def allocate_population(comms: list[Community], rng: np.random.Generator) -> list[int]:
    """Residential committees 3,000–8,000, villages 1,500–5,000, summing exactly to the district total.

    Each unit gets its floor plus a random share of the rest (beta-distributed), rounded by largest remainder.
    """
    res = np.array([c.kind == "residential" for c in comms])
    floor = np.where(res, 3000.0, 1500.0)
    span = np.where(res, 5000.0, 3500.0)
    excess = np.where(res, rng.beta(1.6, 4.0, len(comms)), rng.beta(2.0, 2.5, len(comms))) * span
    scale = (DISTRICT_POPULATION - floor.sum()) / excess.sum()
    raw = floor + excess * scale
    pop = np.floor(raw).astype(int)
    short = DISTRICT_POPULATION - pop.sum()
    pop[np.argsort(-(raw - pop))[:short]] += 1
    return pop.tolist()


# --- output -------------------------------------------------------------------------------------------------


def geometry_json(geom: shapely.Geometry) -> dict:
    """GeoJSON geometry with RFC 7946 ring orientation and coordinates rounded to 6 decimals."""
    geom = shapely.orient_polygons(geom, exterior_cw=False)

    def rings(poly: Polygon) -> list:
        return [[[round(x, 6), round(y, 6)] for x, y in ring.coords] for ring in [poly.exterior, *poly.interiors]]

    if geom.geom_type == "Polygon":
        return {"type": "Polygon", "coordinates": rings(geom)}
    return {"type": "MultiPolygon", "coordinates": [rings(p) for p in geom.geoms]}


def write_collection(path: Path, features: list[tuple[dict, shapely.Geometry]]) -> None:
    doc = {"type": "FeatureCollection",
           "features": [{"type": "Feature", "properties": props, "geometry": geometry_json(geom)}
                        for props, geom in features]}
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def build(shared: Path, out_dir: Path = DATA_DIR) -> None:
    rng = np.random.default_rng(RNG_SEED)
    outline = load_outline(shared)
    towns = load_towns(shared)
    comms = load_communities(shared)
    frame = Frame.around(outline)
    seeds_m = place_seeds(frame.to_m(outline), towns, frame)
    town_geoms = build_towns(outline, towns, seeds_m, frame, rng)
    town_geoms, comm_geoms, comms = build_communities(towns, town_geoms, seeds_m, comms, frame, rng)
    pops = allocate_population(comms, rng)
    town_pop: dict[str, int] = defaultdict(int)
    for c, p in zip(comms, pops, strict=True):
        town_pop[c.parent] += p

    out_dir.mkdir(parents=True, exist_ok=True)
    write_collection(out_dir / OUTLINE_FILE, [({
        "code": DISTRICT_CODE, "name": DISTRICT_NAME, "level": "district", "kind": "district",
        "population": DISTRICT_POPULATION, "synthetic": False, "source": SOURCE_NOTE}, outline)])
    write_collection(out_dir / TOWNS_FILE, [({
        "code": t.code, "name": t.name, "level": "town", "kind": t.kind, "parent": DISTRICT_CODE,
        "population": town_pop[t.code], "synthetic": True}, g) for t, g in zip(towns, town_geoms, strict=True)])
    write_collection(out_dir / COMMUNITIES_FILE, [({
        "code": c.code, "name": c.name, "level": "community", "kind": c.kind, "parent": c.parent,
        "population": p, "synthetic": True}, g) for c, g, p in zip(comms, comm_geoms, pops, strict=True)])


# --- verification -------------------------------------------------------------------------------------------


def _read(path: Path) -> tuple[list[dict], np.ndarray]:
    feats = json.loads(path.read_text(encoding="utf-8"))["features"]
    return [f["properties"] for f in feats], np.array([shape(f["geometry"]) for f in feats], dtype=object)


def max_overlap_m2(geoms: np.ndarray) -> float:
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    sel = i < j
    if not sel.any():
        return 0.0
    inter = shapely.intersection(geoms[i[sel]], geoms[j[sel]])
    return float(np.max(area_m2(inter)))


def verify(shared: Path, data_dir: Path = DATA_DIR) -> bool:
    """Re-read the written files and check every constraint; print a report and return True when all hold."""
    problems: list[str] = []
    _, outline = _read(data_dir / OUTLINE_FILE)
    tprops, tgeoms = _read(data_dir / TOWNS_FILE)
    cprops, cgeoms = _read(data_dir / COMMUNITIES_FILE)
    seeds = {t.code: t for t in load_towns(shared)}
    frame = Frame.around(outline[0])
    seeds_m = place_seeds(frame.to_m(outline[0]), list(seeds.values()), frame)
    seed_pt = {code: frame.to_deg(Point(seeds_m[i])) for i, code in enumerate(seeds)}
    moved = [t.name for t in seeds.values() if t.moved]

    print(f"outline: {outline[0].geom_type}, {area_m2(outline[0]) / 1e6:.2f} km², valid={outline[0].is_valid}")
    print(f"towns: {len(tgeoms)}  communities: {len(cgeoms)}  seeds moved inside: {moved or 'none'}")
    if len(tgeoms) != 14 or len(cgeoms) != 596:
        problems.append("wrong feature counts")
    for label, geoms in (("town", tgeoms), ("community", cgeoms)):
        bad = [i for i, g in enumerate(geoms) if g.geom_type != "Polygon" or not g.is_valid]
        if bad:
            problems.append(f"{len(bad)} {label} geometries not valid single Polygons")
    c_area = area_m2(cgeoms) / 1e6
    print(f"community area km²: min {c_area.min():.3f}  max {c_area.max():.3f}  "
          f"(residential median {np.median(c_area[[p['kind'] == 'residential' for p in cprops]]):.3f}, "
          f"village median {np.median(c_area[[p['kind'] == 'village' for p in cprops]]):.3f})")
    if c_area.min() < 0.05 or c_area.max() > 9.0:
        problems.append("community area out of [0.05, 9.0] km²")
    ov_c, ov_t = max_overlap_m2(cgeoms), max_overlap_m2(tgeoms)
    print(f"max pairwise overlap m²: communities {ov_c:.4f}  towns {ov_t:.4f}")
    if ov_c >= 1 or ov_t >= 1:
        problems.append("overlaps ≥ 1 m²")

    print(f"{'code':10} {'name':8} {'km²':>7} {'seed':>5} {'n':>3} {'gap %':>9} {'population':>10}")
    c_parent = np.array([p["parent"] for p in cprops])
    c_pop = np.array([p["population"] for p in cprops])
    for props, geom in zip(tprops, tgeoms, strict=True):
        members = cgeoms[c_parent == props["code"]]
        union = shapely.union_all(members)
        gap = float(area_m2(shapely.symmetric_difference(geom, union)) / area_m2(geom) * 100)
        km2 = float(area_m2(geom) / 1e6)
        inside = bool(geom.contains(seed_pt[props["code"]]))
        pop_ok = props["population"] == int(c_pop[c_parent == props["code"]].sum())
        print(f"{props['code']:10} {props['name']:8} {km2:7.2f} {inside!s:>5} {len(members):3d} {gap:9.6f} "
              f"{props['population']:10d}{'' if pop_ok else ' ≠ sum of communities'}")
        if not inside or km2 < 3 or gap > 0.01 or not pop_ok:
            problems.append(f"town {props['name']} fails (seed/area/gap/population)")
    district_gap = float(area_m2(shapely.symmetric_difference(outline[0], shapely.union_all(tgeoms)))
                         / area_m2(outline[0]) * 100)
    print(f"district gap (sym. diff. towns vs outline): {district_gap:.6f} %")
    if district_gap > 0.01:
        problems.append("district gap > 0.01 %")
    res = np.array([p["kind"] == "residential" for p in cprops])
    print(f"population: communities {c_pop.sum()}  towns {sum(p['population'] for p in tprops)}  "
          f"residential {c_pop[res].min()}–{c_pop[res].max()}  village {c_pop[~res].min()}–{c_pop[~res].max()}")
    if c_pop.sum() != DISTRICT_POPULATION or sum(p["population"] for p in tprops) != DISTRICT_POPULATION:
        problems.append("population sums differ from 2,429,000")
    sizes = {f: (data_dir / f).stat().st_size for f in (OUTLINE_FILE, TOWNS_FILE, COMMUNITIES_FILE)}
    print("sizes: " + ", ".join(f"{f} {s / 1024:.0f} KiB" for f, s in sizes.items()))
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared",
                        help="shared data root holding data/boundaries, data/minhang, data/admin_codes")
    parser.add_argument("--verify-only", action="store_true", help="only check the existing files")
    args = parser.parse_args(argv)
    shared = args.shared / "data" if (args.shared / "data").is_dir() else args.shared
    start = time.perf_counter()
    if not args.verify_only:
        build(shared)
        print(f"built in {time.perf_counter() - start:.1f} s")
    return 0 if verify(shared) else 1


if __name__ == "__main__":
    sys.exit(main())
