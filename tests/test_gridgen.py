"""The grid generator: coverage without gaps or overlaps, ~target size, numbering order, codes."""

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from liandong.areas.geometry import area_m2
from liandong.areas.gridgen import SLIVER_SHARE, cut, sequence_code, split_population

# an irregular, concave community of ~1.6 km² near Minhang
COMMUNITY = Polygon([(121.380, 31.100), (121.395, 31.101), (121.397, 31.108), (121.389, 31.106),
                     (121.386, 31.113), (121.379, 31.111)])


def test_cut_covers_without_gaps_or_overlaps():
    pieces = cut(COMMUNITY, 10_000)
    total = float(area_m2(COMMUNITY))
    areas = np.asarray(area_m2(np.asarray(pieces, dtype=object)))
    assert abs(areas.sum() - total) / total < 1e-6
    union = shapely.union_all(pieces)
    assert float(area_m2(union.symmetric_difference(COMMUNITY))) < 1.0
    tree = shapely.STRtree(pieces)
    a, b = tree.query(pieces, predicate="intersects")
    overlap = sum(float(area_m2(pieces[i].intersection(pieces[j]))) for i, j in zip(a, b, strict=True) if i < j)
    assert overlap < 1.0


def test_cut_sizes_near_target():
    pieces = cut(COMMUNITY, 10_000)
    areas = np.asarray(area_m2(np.asarray(pieces, dtype=object)))
    assert len(pieces) == pytest.approx(float(area_m2(COMMUNITY)) / 10_000, rel=0.2)
    assert areas.min() >= SLIVER_SHARE * 10_000 * 0.999  # slivers were merged away
    assert areas.max() <= 2.4 * 10_000  # a full cell plus merged slivers
    assert abs(np.median(areas) - 10_000) / 10_000 < 0.02


def test_target_is_configurable():
    assert len(cut(COMMUNITY, 40_000)) < len(cut(COMMUNITY, 10_000)) / 3


def test_numbering_west_to_east_then_north_to_south():
    pieces = cut(Polygon([(0.0, 0.0), (0.005, 0.0), (0.005, 0.003), (0.0, 0.003)]), 10_000, origin=(0.0, 0.003))
    pts = [p.representative_point() for p in pieces]
    rows = {}
    for i, p in enumerate(pts):
        rows.setdefault(round(p.y, 4), []).append((i, p.x))
    ys = sorted(rows, reverse=True)
    order = [i for y in ys for i, _ in sorted(rows[y], key=lambda t: t[1])]
    assert order == list(range(len(pieces)))  # north row first, west to east inside a row


def test_sequence_codes():
    assert [sequence_code(n) for n in (1, 42, 999)] == ["001", "042", "999"]
    assert sequence_code(1000) == "A00" and sequence_code(1001) == "A01" and sequence_code(1036) == "A10"
    codes = [sequence_code(n) for n in range(1, 3000)]
    assert len(set(codes)) == len(codes) and all(len(c) == 3 and c.isalnum() and c.isupper() or c.isdigit()
                                                 for c in codes)
    with pytest.raises(ValueError):
        sequence_code(0)


def test_split_population_is_exact():
    parts = split_population(10_001, np.array([1.0, 2.0, 3.0, 0.5]))
    assert sum(parts) == 10_001 and parts[2] > parts[1] > parts[0] > parts[3]
