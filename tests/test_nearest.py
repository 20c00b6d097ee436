"""Nearest-station lookup against a brute-force haversine check, with filters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yizhan.stations import model
from yizhan.geodata.sphere import haversine_m
from yizhan.stations.nearest import OpenAt, StationIndex, nearest_bulk


def _random_stations(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = model.empty_frame().reindex(range(n))
    frame["id"] = [f"S{i}" for i in range(n)]
    frame["name"] = [f"站{i}" for i in range(n)]
    frame["type"] = rng.choice(model.STATION_TYPES, n)
    frame["groups"] = [model.SEP.join(model.DEFAULT_GROUPS_BY_TYPE[t]) for t in frame["type"]]
    frame["services"] = rng.choice(["饮水、充电", "饮水", "充电、淋浴", ""], n)
    frame["hours"] = rng.choice(["08:00-20:00", "24h", "22:00-06:00", ""], n)
    frame["status"] = rng.choice(["在运营", "在运营", "在运营", "停用"], n)
    frame["lon"] = rng.uniform(112.9, 114.1, n)
    frame["lat"] = rng.uniform(22.5, 23.9, n)
    for c in ("address", "adcode", "host", "phone", "source", "updated_at", "orig_crs"):
        frame[c] = ""
    return frame


def _brute(frame: pd.DataFrame, mask: np.ndarray, lon: float, lat: float, k: int) -> tuple[list[str], np.ndarray]:
    sub = frame[mask]
    d = haversine_m(lon, lat, sub["lon"].to_numpy(), sub["lat"].to_numpy())
    order = np.argsort(d, kind="stable")[:k]
    return list(sub["id"].to_numpy()[order]), d[order]


def test_matches_brute_force_on_random_points() -> None:
    frame = _random_stations(3000)
    index = StationIndex(frame)
    rng = np.random.default_rng(11)
    for lon, lat in zip(rng.uniform(112.8, 114.2, 200), rng.uniform(22.4, 24.0, 200)):
        got = index.nearest(lon, lat, k=7)
        ids, dist = _brute(frame, (frame["status"] == "在运营").to_numpy(), lon, lat, 7)
        np.testing.assert_allclose([r["distance_m"] for r in got], dist, atol=0.051)  # rounded to 0.1 m
        assert [r["id"] for r in got] == ids


def test_batch_query_matches_brute_force() -> None:
    frame = _random_stations(500)
    index = StationIndex(frame)
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(112.8, 114.2, 1000), rng.uniform(22.4, 24.0, 1000)
    idx, dist = index.query(lon, lat, k=1)
    full = haversine_m(lon[:, None], lat[:, None], frame["lon"].to_numpy()[None, :], frame["lat"].to_numpy()[None, :])
    np.testing.assert_allclose(dist[:, 0], full.min(axis=1), rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("filters", [
    {"type": "司机之家"}, {"group": "快递员"}, {"service": "淋浴"},
    {"open_at": OpenAt(0, 23 * 60)}, {"open_at": OpenAt(2, 12 * 60), "group": "货车司机"},
])
def test_filters_match_brute_force(filters: dict) -> None:
    frame = _random_stations(2000)
    index = StationIndex(frame)
    mask = (frame["status"] == "在运营").to_numpy().copy()
    if "type" in filters:
        mask &= (frame["type"] == filters["type"]).to_numpy()
    if "group" in filters:
        mask &= frame["groups"].str.contains(filters["group"]).to_numpy()
    if "service" in filters:
        mask &= frame["services"].str.contains(filters["service"]).to_numpy()
    if "open_at" in filters:
        from yizhan.stations.hours import OpeningHours

        when = filters["open_at"]
        mask &= np.array([OpeningHours.parse(h).is_open(when.weekday, when.minute) for h in frame["hours"]])
    assert 0 < mask.sum() < len(frame)
    rng = np.random.default_rng(2)
    for lon, lat in zip(rng.uniform(112.8, 114.2, 30), rng.uniform(22.4, 24.0, 30)):
        got = index.nearest(lon, lat, k=5, **filters)
        ids, dist = _brute(frame, mask, lon, lat, 5)
        assert [r["id"] for r in got] == ids
        np.testing.assert_allclose([r["distance_m"] for r in got], dist, atol=0.051)


def test_night_filter_excludes_day_stations() -> None:
    frame = _random_stations(300)
    got = StationIndex(frame).nearest(113.3, 23.1, k=20, open_at=OpenAt(0, 23 * 60))
    assert not any(r["hours"] == "08:00-20:00" for r in got)
    assert len(got) == 20 and all(r["open"] for r in got)


def test_input_crs_is_converted() -> None:
    from yizhan.geodata.crs import wgs84_to_gcj02

    frame = _random_stations(1000)
    index = StationIndex(frame)
    s = frame.iloc[17]
    glon, glat = wgs84_to_gcj02(s["lon"], s["lat"])
    got = index.nearest(float(glon), float(glat), crs="gcj02", k=1, status=None)
    assert got[0]["id"] == "S17" and got[0]["distance_m"] < 0.5


def test_fewer_matches_than_k_and_empty_index() -> None:
    frame = _random_stations(50)
    got = StationIndex(frame).nearest(113.3, 23.1, k=40, type="司机之家")
    assert len(got) == ((frame["type"] == "司机之家") & (frame["status"] == "在运营")).sum()
    empty = StationIndex(model.empty_frame())
    assert empty.nearest(113.3, 23.1, k=3) == []


def test_records_shape() -> None:
    frame = _random_stations(20)
    recs = StationIndex(frame).nearest(113.3, 23.1, k=3, open_at=OpenAt(0, 600))
    assert [set(r) >= {"id", "name", "type", "lon", "lat", "distance_m", "open"} for r in recs] == [True] * 3
    assert recs[0]["distance_m"] <= recs[1]["distance_m"] <= recs[2]["distance_m"]


def test_unknown_filter_values_raise() -> None:
    index = StationIndex(_random_stations(10))
    with pytest.raises(ValueError, match="unknown worker group"):
        index.nearest(113.3, 23.1, group="宇航员")
    with pytest.raises(ValueError, match="unknown station type"):
        index.nearest(113.3, 23.1, type="加油站")


@pytest.mark.parametrize("n_stations,spread,n_points", [(10_000, 1.0, 60_000), (50, 1.0, 60_000), (3, 0.01, 60_000),
                                                        (2000, 8.0, 60_000), (5000, 2.0, 700_000)])
def test_bulk_equals_kdtree_query(n_stations: int, spread: float, n_points: int) -> None:
    from scipy.spatial import cKDTree

    from yizhan.geodata.sphere import unit_vectors

    rng = np.random.default_rng(n_stations)
    slon, slat = rng.uniform(113, 113 + spread, n_stations), rng.uniform(23, 23 + spread * 0.7, n_stations)
    # clustered points, duplicates and points exactly on stations
    lon = np.concatenate([rng.normal(113.3, 0.2 * spread, n_points), slon[:20], np.full(100, 113.5)])
    lat = np.concatenate([rng.normal(23.2, 0.15 * spread, n_points), slat[:20], np.full(100, 23.3)])
    vec = unit_vectors(slon, slat)
    tree = cKDTree(vec)
    idx, chord = nearest_bulk(tree, vec, lon, lat)
    ref_chord, ref_idx = tree.query(unit_vectors(lon, lat), k=1)
    np.testing.assert_allclose(chord, ref_chord, rtol=0, atol=1e-12)
    same = idx == ref_idx
    # where the index differs it must be an exact tie
    assert np.allclose(np.linalg.norm(unit_vectors(lon, lat)[~same] - vec[idx[~same]], axis=1), ref_chord[~same])


# -- the per-request path of /api/nearest and its caches ------------------------------------------
def test_one_point_path_equals_the_batch_query() -> None:
    frame = _random_stations(3000)
    frame.loc[5, "capacity"] = 12
    index = StationIndex(frame)
    rng = np.random.default_rng(8)
    for j, (lon, lat) in enumerate(zip(rng.uniform(112.8, 114.2, 100), rng.uniform(22.4, 24.0, 100))):
        k = (1, 5, 40)[j % 3]
        mask = index.mask(type="司机之家" if j % 2 else None)
        got = index.nearest(lon, lat, k=k, type="司机之家" if j % 2 else None)
        idx, dist = index.query(lon, lat, k, mask=mask)
        keep = idx[0] >= 0
        assert [r["id"] for r in got] == list(frame["id"].to_numpy()[idx[0][keep]])
        assert [r["distance_m"] for r in got] == [round(float(d), 1) for d in dist[0][keep]]
    rec = index.nearest(float(frame.loc[5, "lon"]), float(frame.loc[5, "lat"]), k=1, status=None)[0]
    assert rec["id"] == "S5" and rec["capacity"] == 12 and isinstance(rec["capacity"], int)
    assert rec["lon"] == round(float(frame.loc[5, "lon"]), 7) and rec["groups"] == model.split_list(frame.loc[5, "groups"])


def test_cached_open_now_equals_parsing_the_hours() -> None:
    from datetime import datetime, timedelta

    from yizhan.stations.hours import OpeningHours
    from yizhan.web import api

    def parsed(hours: object, now: datetime) -> bool | None:
        if not isinstance(hours, str) or not hours.strip():
            return None
        try:
            oh = OpeningHours.parse(hours)
        except (ValueError, TypeError):
            return None
        return None if oh.is_unknown else oh.is_open(now.weekday(), now.hour * 60 + now.minute)

    texts = ["08:00-20:00", "24h", "22:00-06:00", "周一至周五 09:00-17:30；周六 10:00-12:00", "工作日 8:30-18:00",
             "", "  ", "未知", "不详", "25:00-26:00", "随便", None, float("nan"), 42]
    start = datetime(2026, 11, 2, 0, 0)
    for step in range(0, 7 * 24 * 60, 37):
        now = start + timedelta(minutes=step)
        for text in texts:
            assert api._open_now(text, now) == parsed(text, now), (text, now)
    assert api._hours_bitmap.cache_info().hits > 0


def test_cached_navigation_links_equal_nav_urls() -> None:
    from yizhan.web import api

    frame = _random_stations(40)
    frame.loc[3, "name"] = ""
    recs = StationIndex(frame).nearest(113.3, 23.1, k=40, status=None)
    want = api.nav_urls(np.array([r["lon"] for r in recs]), np.array([r["lat"] for r in recs]), [r["name"] for r in recs])
    api._NAV_CACHE.clear()
    assert api._nav_links(recs[:7]) == want[:7]          # computed
    assert api._nav_links(recs) == want                  # partly cached
    assert api._nav_links(recs[::-1]) == want[::-1]      # all cached
    first = api._nav_links(recs[:1])[0]
    first["amap"] = "changed"                             # answers do not share the cached links
    assert api._nav_links(recs[:1])[0] == want[0]


def test_local_rate_limit_counters_are_fixed_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    from limits import parse
    from limits.strategies import FixedWindowRateLimiter

    from yizhan.web import ratelimit

    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    limiter = FixedWindowRateLimiter(ratelimit.LocalCounters())
    item = parse("3 per minute")
    assert [limiter.hit(item, "a") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(item, "b")                                     # another client has its own count
    assert limiter.get_window_stats(item, "a") == (1060.0, 0)
    clock[0] = 1059.9
    assert not limiter.hit(item, "a")
    clock[0] = 1060.0                                                  # the window ended
    assert limiter.get_window_stats(item, "a").remaining == 3
    assert limiter.hit(item, "a") and limiter.get_window_stats(item, "a") == (1120.0, 2)
    clock[0] = 1200.0                                                  # expired counters are swept
    limiter.hit(item, "c")
    assert len(limiter.storage._counters) == 1
