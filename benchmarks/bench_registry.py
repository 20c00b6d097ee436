"""Benchmark: nearest-station lookup and coordinate conversion, each against a baseline in the same run.

    python benchmarks/bench_registry.py [--points 1000000] [--stations 10000]

Baselines (named, measured in the same process on the same data, so the ratios hold on a noisy
shared machine even when absolute times do not):
  * nearest: geopandas ``sjoin_nearest`` on the same points and stations projected to UTM 49N
    (EPSG:32649; projection done before timing, so the baseline is not charged for it);
  * conversion: a per-row Python loop over scalar ``math`` code (the way eviltransform /
    coordTransform_py convert), GCJ-02 -> WGS-84 with the same fixed-point inverse.
Prints absolute times, the ratios, and agreement checks.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from yizhan.geodata import crs
from yizhan.stations import model
from yizhan.geodata.sphere import haversine_m
from yizhan.stations.nearest import StationIndex


def _stations(n: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = model.empty_frame().reindex(range(n))
    frame["id"] = [f"S{i}" for i in range(n)]
    frame["name"] = frame["id"]
    frame["type"] = "工会爱心驿站"
    frame["groups"] = model.SEP.join(model.GROUPS)
    frame["status"] = "在运营"
    frame["hours"] = "24h"
    frame["services"] = ""
    frame["lon"] = rng.uniform(112.9, 114.1, n)
    frame["lat"] = rng.uniform(22.5, 23.9, n)
    return frame


def _scalar_gcj_to_wgs(lon: float, lat: float) -> tuple[float, float]:
    """Per-row baseline: the same math as yizhan.geodata.crs, one point at a time."""
    a, ee = 6378245.0, 0.00669342162296594323

    def delta(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - 105.0, y - 35.0
        sq = math.sqrt(abs(dx))
        c = (20 * math.sin(6 * dx * math.pi) + 20 * math.sin(2 * dx * math.pi)) * 2 / 3
        tlat = (-100 + 2 * dx + 3 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * sq + c
                + (20 * math.sin(dy * math.pi) + 40 * math.sin(dy / 3 * math.pi)) * 2 / 3
                + (160 * math.sin(dy / 12 * math.pi) + 320 * math.sin(dy * math.pi / 30)) * 2 / 3)
        tlon = (300 + dx + 2 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * sq + c
                + (20 * math.sin(dx * math.pi) + 40 * math.sin(dx / 3 * math.pi)) * 2 / 3
                + (150 * math.sin(dx / 12 * math.pi) + 300 * math.sin(dx / 30 * math.pi)) * 2 / 3)
        rad = y / 180 * math.pi
        magic = 1 - ee * math.sin(rad) ** 2
        sm = math.sqrt(magic)
        return (tlon * 180) / (a / sm * math.cos(rad) * math.pi), (tlat * 180) / ((a * (1 - ee)) / (magic * sm) * math.pi)

    wx, wy = lon, lat
    for _ in range(30):
        dlon, dlat = delta(wx, wy)
        ex, ey = lon - (wx + dlon), lat - (wy + dlat)
        wx += ex
        wy += ey
        if abs(ex) < 1e-10 and abs(ey) < 1e-10:
            break
    return wx, wy


def _timed(func, *args, repeat: int = 1):  # noqa: ANN001, ANN202
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func(*args)
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--stations", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    stations = _stations(args.stations, rng)
    lon = rng.uniform(112.9, 114.1, args.points)
    lat = rng.uniform(22.5, 23.9, args.points)
    print(f"nearest station for {args.points:,} points among {args.stations:,} stations")

    t_build, index = _timed(StationIndex, stations)
    t_ours, (idx, dist) = _timed(lambda: index.query(lon, lat, k=1), repeat=2)

    import geopandas as gpd

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(32649)
    sts = gpd.GeoDataFrame({"sid": np.arange(args.stations)},
                           geometry=gpd.points_from_xy(stations["lon"], stations["lat"]), crs="EPSG:4326").to_crs(32649)
    t_base, joined = _timed(lambda: gpd.sjoin_nearest(pts, sts, how="left", distance_col="d"))
    joined = joined[~joined.index.duplicated()]
    same = float(np.mean(joined["sid"].to_numpy() == idx[:, 0]))
    print(f"  yizhan StationIndex.query (cKDTree, unit vectors): {t_ours:8.3f} s  (index build {t_build * 1000:.1f} ms)")
    print(f"  baseline geopandas sjoin_nearest (UTM 49N):        {t_base:8.3f} s")
    print(f"  ratio sjoin_nearest / yizhan:                      {t_base / t_ours:8.1f} x")
    print(f"  same nearest station in {same:.4%} of points (differences: UTM planar vs great-circle ties)")

    sample = rng.integers(0, args.points, 2000)
    brute = haversine_m(lon[sample, None], lat[sample, None], stations["lon"].to_numpy()[None, :],
                        stations["lat"].to_numpy()[None, :]).min(axis=1)
    print(f"  max |distance - brute-force haversine| on 2,000 points: {np.abs(brute - dist[sample, 0]).max():.2e} m")

    q = rng.integers(0, args.points, 2000)
    t0 = time.perf_counter()
    for i in q:
        index.query(lon[i], lat[i], k=5)
    t_single = (time.perf_counter() - t0) / len(q)
    t0 = time.perf_counter()
    for i in q[:500]:
        index.nearest(lon[i], lat[i], k=5)
    t_full = (time.perf_counter() - t0) / 500
    print(f"  one query, k=5: {t_single * 1e6:.0f} µs (index.query), {t_full * 1e6:.0f} µs (nearest() with frame)")

    print(f"\nGCJ-02 -> WGS-84 for {args.points:,} points")
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    t_vec, (wx, wy) = _timed(lambda: crs.gcj02_to_wgs84(glon, glat), repeat=2)
    gl, ga = glon.tolist(), glat.tolist()
    t0 = time.perf_counter()
    loop = [_scalar_gcj_to_wgs(a, b) for a, b in zip(gl, ga)]
    t_loop = time.perf_counter() - t0
    loop_arr = np.array(loop)
    print(f"  yizhan crs.gcj02_to_wgs84 (numpy, vectorised): {t_vec:8.3f} s")
    print(f"  baseline per-row Python loop:                  {t_loop:8.3f} s")
    print(f"  ratio loop / yizhan:                           {t_loop / t_vec:8.1f} x")
    print(f"  max difference between the two: {haversine_m(wx, wy, loop_arr[:, 0], loop_arr[:, 1]).max():.2e} m; "
          f"max round-trip error: {haversine_m(wx, wy, lon, lat).max():.2e} m")


if __name__ == "__main__":
    main()
