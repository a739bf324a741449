"""Early warning (早研判) detection core: the space-time permutation scan, the EARS C2 baseline, the simulator and
the prospective scoring — pure numpy, no database; seeded so every figure is repeatable."""

from __future__ import annotations

import numpy as np
import pytest

from liandong.screening.warning.baseline import BaselineDetector, BaselineSettings
from liandong.screening.warning.clusters import Cluster
from liandong.screening.warning.evaluate import Run, replay, score
from liandong.screening.warning.events import DAY, HOUR, WEEK, Grids, Neighbourhood, Reports
from liandong.screening.warning.scan import ScanSettings, SpaceTimeScan, expected_counts, gumbel_p, poisson_llr, rank_p
from liandong.screening.warning.simulate import Truth, lattice, simulate

SMALL = dict(days=2, warmup_days=14, per_day=40)  # ≈ 2.5 reports a km² a day, as in a Minhang month


@pytest.fixture(scope="module")
def grids() -> Grids:
    return lattice(40, 40)  # 1,600 grids of 100 m, 16 km²


@pytest.fixture(scope="module")
def nbh(grids) -> Neighbourhood:
    return Neighbourhood.build(grids, 500.0)


def scan_settings(**kw) -> ScanSettings:
    return ScanSettings(**{"study_days": 14.0, "replicas": 99, "alpha": 0.05, **kw})


# --- events -----------------------------------------------------------------------------------------------------

def test_neighbourhood_on_a_lattice(grids, nbh):
    centre = 20 * 40 + 20
    assert nbh.members(centre, 0.0).tolist() == [centre]
    assert sorted(nbh.members(centre, 100.0).tolist()) == sorted([centre, centre - 1, centre + 1, centre - 40,
                                                                  centre + 40])
    assert len(nbh.members(centre, 150.0)) == 9
    assert len(nbh.members(centre, 500.0)) == 81  # lattice points within 5 cells of the centre
    d = nbh.dist[nbh.indptr[centre]:nbh.indptr[centre + 1]]
    assert np.all(np.diff(d) >= 0) and d.max() <= 500.0
    ring = nbh.ring_sums(np.ones(len(grids)), [0.0, 100.0, 150.0])
    assert ring[centre].tolist() == [1, 5, 9]


def test_reports_sorted_by_time_and_grid_ids(grids):
    reports = Reports.build([3, 1, 2], grids.index_of([5, 7, 9]), [30.0, 10.0, 20.0], ["a", "b", "c"])
    assert reports.ids.tolist() == [1, 2, 3] and reports.grid.tolist() == [7, 9, 5]
    assert reports.kind.tolist() == ["b", "c", "a"]
    assert reports.between(10.0, 30.0) == slice(1, 3)
    with pytest.raises(KeyError):
        grids.index_of([10**6])


# --- scan -------------------------------------------------------------------------------------------------------

def test_expected_counts_sum_to_n():
    rng = np.random.default_rng(1)
    n_space, n_time = rng.integers(0, 9, 50), rng.integers(0, 9, 24)
    n_time = n_time * n_space.sum() / n_time.sum()  # both margins of the same N reports
    mu = expected_counts(n_space, n_time)
    assert mu.sum() == pytest.approx(n_space.sum())
    assert mu.sum(axis=1) == pytest.approx(n_space)
    assert mu.sum(axis=0) == pytest.approx(n_time)


def test_poisson_llr_and_p_values():
    assert poisson_llr(2, 3.0, 100)[()] == 0.0  # a deficit is no cluster
    c, mu, n = 8, 0.5, 1000
    assert poisson_llr(c, mu, n)[()] == pytest.approx(c * np.log(c / mu) + (n - c) * np.log((n - c) / (n - mu)))
    maxima = np.arange(1.0, 100.0)
    assert rank_p(1000.0, maxima) == pytest.approx(0.01)
    assert rank_p(0.5, maxima) == pytest.approx(1.0)
    assert gumbel_p(1000.0, maxima) < 1e-6 and gumbel_p(50.0, maxima) == pytest.approx(0.5, abs=0.15)


def test_scan_finds_an_injected_cluster(grids, nbh):
    district = simulate(grids, clusters=1, size=(10, 10), seed=3, **SMALL)
    members, start = district.truth.members[0], district.truth.start[0]
    result = SpaceTimeScan(nbh, scan_settings()).scan(district.reports, start + 6 * HOUR)[0]
    top = result.clusters[0]
    assert top.p_value <= 0.01
    assert len(np.intersect1d(top.report_ids, members)) >= 8
    assert len(np.intersect1d(top.report_ids, members)) >= 0.8 * len(top.report_ids)
    centre = district.truth.centre[0]
    assert np.hypot(grids.x[top.centre] - grids.x[centre], grids.y[top.centre] - grids.y[centre]) <= 300.0
    assert np.isin(district.reports.grid[np.isin(district.reports.ids, top.report_ids)], top.grids).all()
    # the evidence adds up: expected = N_A · N_W / N over the study period
    study = district.reports.take(district.reports.between(top.at - 14 * DAY, top.at))
    n_area = np.isin(study.grid, top.grids).sum()
    n_window = (study.time > top.start).sum()
    assert top.expected == pytest.approx(n_area * n_window / len(study))
    assert top.observed == len(top.report_ids) and top.relative_risk > 5
    assert top.as_dict(grids)["report_ids"] == sorted(top.report_ids.tolist())


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15, 16])
def test_scan_is_quiet_on_a_homogeneous_background(grids, nbh, seed):
    district = simulate(grids, clusters=0, seed=seed, **SMALL)
    scan = SpaceTimeScan(nbh, scan_settings(p_value="rank"))
    significant = [c for at in (district.start + 13 * HOUR, district.end) for c in scan(district.reports, at)]
    # two scans at α = 0.05 for each of six seeds: about 0.6 false alarms expected in all; one seed may have one
    assert len(significant) <= 1


def test_scan_margins_updated_hour_by_hour_equal_a_fresh_scan(grids, nbh):
    district = simulate(grids, clusters=2, seed=5, **SMALL)
    rolling = SpaceTimeScan(nbh, scan_settings())
    for hours in range(1, 30, 7):
        at = district.start + hours * HOUR
        a = rolling.scan(district.reports, at, all_clusters=True)[0]
        b = SpaceTimeScan(nbh, scan_settings()).scan(district.reports, at, all_clusters=True)[0]
        assert np.array_equal(a.null_llr, b.null_llr)
        assert [(c.centre, c.observed, c.expected) for c in a.clusters] == [
            (c.centre, c.observed, c.expected) for c in b.clusters]


def test_scan_by_kind_names_the_kind(grids, nbh):
    district = simulate(grids, clusters=1, size=(12, 12), seed=4, **SMALL)
    scan = SpaceTimeScan(nbh, scan_settings(by_kind=True))
    found = [c for c in scan(district.reports, district.truth.start[0] + 6 * HOUR) if c.p_value <= 0.01]
    assert [c.kind for c in found] == [district.truth.kind[0]]
    assert np.isin(district.truth.members[0], found[0].report_ids).all()
    assert np.isin(district.reports.kind[np.isin(district.reports.ids, found[0].report_ids)], found[0].kind).all()


# --- baseline ---------------------------------------------------------------------------------------------------

def flat_reports(grids: Grids, hours: int, extra: int = 0) -> Reports:
    """One report every 3 hours in each of four grids, and ``extra`` in grid 100 in the last hour."""
    spots = np.array([100, 400, 900, 1300])
    times = np.arange(1, hours // 3 + 1) * 3 * HOUR - 60.0
    grid = np.repeat(spots[None, :], len(times), axis=0).ravel()
    time = np.repeat(times, len(spots))
    grid = np.r_[grid, np.full(extra, 100)]
    time = np.r_[time, hours * HOUR - np.linspace(100.0, 3000.0, extra)]
    return Reports.build(np.arange(1, len(time) + 1), grid, time)


def test_baseline_alarms_on_a_spike_and_is_quiet_on_flat_data(grids, nbh):
    detector = BaselineDetector(nbh, BaselineSettings(radius=100.0))
    hours = 12 * 24
    assert detector(flat_reports(grids, hours), hours * HOUR) == []
    spiked = flat_reports(grids, hours, extra=8)
    alarms = detector(spiked, hours * HOUR)
    assert len(alarms) == 1
    alarm = alarms[0]
    assert 100 in alarm.grids and alarm.observed == 10  # 8 extra + 2 regular in the 6 h window
    assert alarm.expected == pytest.approx(2.0) and alarm.score == pytest.approx(4.0)  # (10 − 2) / floor 2
    assert len(alarm.report_ids) == 10
    consecutive = BaselineDetector(nbh, BaselineSettings(radius=100.0, step_hours=None))
    assert consecutive(flat_reports(grids, hours), hours * HOUR) == []
    assert len(consecutive(spiked, hours * HOUR)) == 1


def test_baseline_per_grid_on_sparse_counts_needs_the_floor(grids, nbh):
    reports = flat_reports(grids, 12 * 24, extra=5)  # 7 reports in 6 h where 2 is usual, sd 0
    assert BaselineDetector(nbh, BaselineSettings(radius=0.0))(reports, 12 * 24 * HOUR) == []  # (7 − 2) / 2 ≤ 3
    alarms = BaselineDetector(nbh, BaselineSettings(radius=0.0, sd_floor=1.0))(reports, 12 * 24 * HOUR)
    assert [a.grids.tolist() for a in alarms] == [[100]] and alarms[0].score == pytest.approx(5.0)


# --- simulator --------------------------------------------------------------------------------------------------

def test_simulator_truth_is_exact(grids):
    district = simulate(grids, clusters=5, size=(8, 15), seed=9, **SMALL)
    reports, truth = district.reports, district.truth
    all_members = np.concatenate(truth.members)
    assert len(np.unique(all_members)) == len(all_members)  # no report in two clusters
    assert np.isin(all_members, reports.ids).all()
    assert len(np.unique(reports.ids)) == len(reports)
    for c in range(len(truth)):
        rows = np.isin(reports.ids, truth.members[c])
        assert 8 <= rows.sum() <= 15
        assert np.all(reports.time[rows] >= truth.start[c])
        assert np.all(reports.time[rows] <= truth.start[c] + 6 * HOUR)
        assert district.start <= truth.start[c] <= district.end
        dx = grids.x[reports.grid[rows]] - grids.x[truth.centre[c]]
        dy = grids.y[reports.grid[rows]] - grids.y[truth.centre[c]]
        assert np.all(np.hypot(dx, dy) <= 300.0 + 1e-6)
        assert np.all(reports.kind[rows] == truth.kind[c])
    assert np.all(np.diff(reports.time) >= 0)
    again = simulate(grids, clusters=5, size=(8, 15), seed=9, **SMALL)
    assert np.array_equal(again.reports.grid, reports.grid) and np.array_equal(again.reports.time, reports.time)


def test_simulator_follows_the_given_weights(grids):
    weights = np.zeros(len(grids))
    weights[:400] = 1.0
    district = simulate(grids, clusters=0, weights=weights, seed=2, **SMALL)
    assert district.reports.grid.max() < 400


# --- evaluation -------------------------------------------------------------------------------------------------

def warning(at: float, ids, grids) -> Cluster:
    return Cluster(detector="test", at=at, centre=int(grids[0]), grids=np.asarray(grids), radius=100.0,
                   start=at - 6 * HOUR, end=at, observed=len(ids), expected=1.0, relative_risk=len(ids),
                   score=10.0, p_value=0.001, report_ids=np.asarray(ids))


def test_score_counts_recall_false_alarms_and_delay_on_a_hand_made_case():
    t0 = 0.0
    truth = Truth(start=np.array([10 * HOUR, 50 * HOUR, 90 * HOUR]), centre=np.array([1, 2, 3]),
                  kind=np.array(["a", "a", "b"]),
                  members=[np.arange(100, 108), np.arange(200, 210), np.arange(300, 308)])
    runs = [
        Run(12 * HOUR, [warning(12 * HOUR, [100, 101, 102], [1])], 0.1),  # 3 of 8: not yet found, not false
        Run(13 * HOUR, [warning(13 * HOUR, [100, 101, 102, 103, 104, 999], [1])], 0.2),  # found after 3 h
        Run(20 * HOUR, [warning(20 * HOUR, [1, 2, 3], [7, 8])], 0.1),  # false alarm
        Run(21 * HOUR, [warning(21 * HOUR, [1, 2, 3, 4], [8, 9])], 0.1),  # same area within a day: not again
        Run(22 * HOUR, [warning(22 * HOUR, [5, 6], [40])], 0.1),  # another area: a second false alarm
        Run(50 * HOUR + 46 * HOUR, [warning(96 * HOUR, range(200, 210), [2])], 0.1),  # 46 h late: not found
        Run(92 * HOUR, [warning(92 * HOUR, range(300, 304), [3])], 0.3),  # 4 of 8 after 2 h: found
    ]
    figures = score(runs, truth, t0, t0 + WEEK)
    assert figures["clusters"] == 3 and figures["found"] == 2
    assert figures["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["false_alarms"] == 2 and figures["false_alarms_per_week"] == pytest.approx(2.0)
    assert figures["median_hours_to_warning"] == pytest.approx(2.5)
    assert figures["warnings"] == 7 and figures["runs"] == 7
    assert figures["scan_s_max"] == pytest.approx(0.3)
    # a standing false alarm counts again after a day
    later = runs + [Run(45 * HOUR, [warning(45 * HOUR, [1, 2], [8])], 0.1)]
    assert score(later, truth, t0, t0 + WEEK)["false_alarms"] == 3


def test_replay_runs_every_hour_and_sees_only_its_time():
    seen = []

    def detector(reports, at):
        seen.append(at)
        return []

    runs = replay(detector, Reports.build([], [], []), 0.0, 5 * HOUR)
    assert seen == [h * HOUR for h in range(1, 6)] and len(runs) == 5
