"""Nearest-station lookup against a brute-force haversine check, with filters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yizhan.stations import model
from yizhan.stations.nearest import OpenAt, StationIndex, haversine_m, nearest_records


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
        np.testing.assert_allclose(got["distance_m"], dist, rtol=1e-9, atol=1e-6)
        assert list(got["id"]) == ids


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
        assert list(got["id"]) == ids
        np.testing.assert_allclose(got["distance_m"], dist, rtol=1e-9, atol=1e-6)


def test_night_filter_excludes_day_stations() -> None:
    frame = _random_stations(300)
    got = StationIndex(frame).nearest(113.3, 23.1, k=20, open_at=OpenAt(0, 23 * 60))
    assert not (got["hours"] == "08:00-20:00").any()
    assert len(got) == 20


def test_input_crs_is_converted() -> None:
    from yizhan.stations.crs import wgs84_to_gcj02

    frame = _random_stations(1000)
    index = StationIndex(frame)
    s = frame.iloc[17]
    glon, glat = wgs84_to_gcj02(s["lon"], s["lat"])
    got = index.nearest(float(glon), float(glat), crs="gcj02", k=1, status=None)
    assert got.iloc[0]["id"] == "S17" and got.iloc[0]["distance_m"] < 0.5


def test_fewer_matches_than_k_and_empty_index() -> None:
    frame = _random_stations(50)
    got = StationIndex(frame).nearest(113.3, 23.1, k=40, type="司机之家")
    assert len(got) == ((frame["type"] == "司机之家") & (frame["status"] == "在运营")).sum()
    empty = StationIndex(model.empty_frame())
    assert empty.nearest(113.3, 23.1, k=3).empty


def test_records_shape() -> None:
    frame = _random_stations(20)
    recs = nearest_records(StationIndex(frame).nearest(113.3, 23.1, k=3), open_at=OpenAt(0, 600))
    assert [set(r) >= {"id", "name", "type", "lon", "lat", "distance_m", "open"} for r in recs] == [True] * 3
    assert recs[0]["distance_m"] <= recs[1]["distance_m"] <= recs[2]["distance_m"]


def test_unknown_filter_values_raise() -> None:
    index = StationIndex(_random_stations(10))
    with pytest.raises(ValueError, match="unknown worker group"):
        index.nearest(113.3, 23.1, group="宇航员")
    with pytest.raises(ValueError, match="unknown station type"):
        index.nearest(113.3, 23.1, type="加油站")
