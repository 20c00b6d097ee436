"""Benchmark the coverage engine at Guangdong size, each step against a named baseline in the same run.

    python benchmarks/bench_coverage.py [--points 10000000] [--stations 10000] [--skip-baselines]

1. nearest distance for N points to M stations: yizhan ``StationIndex.query`` vs geopandas
   ``sjoin_nearest`` (points and stations projected to UTM 49N before timing);
2. H3 aggregation of N points: yizhan ``aggregate`` (h3ronpy + pandas) vs a per-point h3-py loop
   (``latlng_to_cell`` and a dict of sums);
3. end to end on a Guangdong-sized input — N points on ~1.7 million res-9 cells covering the whole
   province, M stations: read the Parquet file, aggregate, analyze (great-circle), write every
   output — run in a child process so its wall time and peak memory (ru_maxrss) are its own.
   Targets: under 60 s and 4 GiB.
The network benchmark is ``benchmarks/bench_network.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

GROUPS = ["外卖配送员", "快递员", "网约车司机", "货车司机"]
# City centres of Guangdong (WGS-84, approximate) with a rough share of demand.
CITIES = [(113.30, 23.12, 0.22), (114.06, 22.55, 0.24), (113.12, 23.02, 0.09), (113.75, 23.02, 0.10),
          (113.39, 22.52, 0.04), (114.41, 23.11, 0.04), (113.58, 22.27, 0.03), (116.68, 23.35, 0.04),
          (110.36, 21.27, 0.04), (113.08, 22.58, 0.03), (112.47, 23.05, 0.02), (113.59, 24.81, 0.02),
          (116.12, 24.29, 0.02), (114.70, 23.74, 0.02), (115.37, 22.78, 0.02), (111.98, 21.86, 0.01),
          (110.92, 21.66, 0.01), (113.06, 23.68, 0.01), (116.62, 23.66, 0.01), (116.36, 23.55, 0.02),
          (112.04, 22.92, 0.01)]


def guangdong_cells(res: int = 9) -> np.ndarray:
    """Every res-``res`` H3 cell whose centre lies in Guangdong (uint64)."""
    import pyarrow as pa
    import shapely
    from h3ronpy import ContainmentMode
    from h3ronpy.vector import geometry_to_cells

    from yizhan.geodata.boundaries import geometry_of

    province = geometry_of("440000")
    cells = geometry_to_cells(province, res, containment_mode=ContainmentMode.ContainsCentroid)
    arr = pa.array(cells).to_numpy(zero_copy_only=False).astype(np.uint64)
    return np.unique(arr) if not shapely.is_empty(province) else arr


def make_input(folder: Path, n_points: int, n_stations: int, seed: int = 7) -> tuple[Path, Path, int]:
    """Write the Guangdong-sized hotspot Parquet and station Parquet; return paths and cell count."""
    from yizhan.coverage import hexgrid
    from yizhan.stations import model

    rng = np.random.default_rng(seed)
    cells = guangdong_cells(9)
    clon, clat = hexgrid.cells_to_lonlat(cells)
    # one point in every cell (the whole province has some demand) ...
    base = np.arange(len(cells))
    # ... and the rest clustered around the cities
    rest = n_points - len(cells)
    share = np.array([c[2] for c in CITIES])
    city = rng.choice(len(CITIES), size=rest, p=share / share.sum())
    r_km = rng.gamma(1.5, 4.0, rest)
    theta = rng.uniform(0, 2 * np.pi, rest)
    lat_c = np.array([c[1] for c in CITIES])[city] + r_km * np.sin(theta) / 111.0
    lon_c = np.array([c[0] for c in CITIES])[city] + r_km * np.cos(theta) / (111.0 * np.cos(np.radians(23)))
    near = np.searchsorted(np.sort(cells), hexgrid.points_to_cells(lon_c, lat_c, 9))
    order = np.argsort(cells)
    inside = (near < len(cells)) & (np.sort(cells)[np.minimum(near, len(cells) - 1)] == hexgrid.points_to_cells(lon_c, lat_c, 9))
    extra = order[near[inside]]
    pick = np.concatenate([base, extra, rng.integers(0, len(cells), rest - int(inside.sum()))])
    jitter = rng.normal(0, 0.0004, (len(pick), 2))
    lon = clon[pick] + jitter[:, 0]
    lat = clat[pick] + jitter[:, 1]
    start = np.datetime64("2026-11-02T00:00:00")
    frame = pd.DataFrame({
        "lon": lon, "lat": lat, "weight": rng.integers(1, 4, len(pick)).astype(np.float32),
        "time": start + rng.integers(0, 86400, len(pick)).astype("timedelta64[s]"),
        "group": pd.Categorical.from_codes(rng.integers(0, 4, len(pick)), categories=GROUPS),
    })
    hot = folder / "guangdong_hotspots.parquet"
    frame.to_parquet(hot, index=False)
    weights = np.bincount(pick, minlength=len(cells)).astype(float)
    st_cells = rng.choice(len(cells), size=n_stations, replace=False, p=weights / weights.sum())
    st = model.empty_frame().reindex(range(n_stations))
    st["id"] = [f"S{i:05d}" for i in range(n_stations)]
    st["name"] = st["id"]
    st["type"] = "工会爱心驿站"
    st["groups"] = model.SEP.join(model.GROUPS)
    st["status"] = "在运营"
    st["lon"], st["lat"] = clon[st_cells], clat[st_cells]
    for c in ("hours", "services", "address", "adcode", "host", "phone", "source", "updated_at", "orig_crs"):
        st[c] = ""
    stations = folder / "guangdong_stations.parquet"
    st.to_parquet(stations, index=False)
    return hot, stations, len(cells)


CHILD = r"""
import json, resource, sys, time
import pandas as pd
t0 = time.perf_counter()
from yizhan.coverage import aggregate, analyze, read_hotspots
from yizhan.coverage.outputs import write_outputs
steps = {}
t = time.perf_counter(); points = read_hotspots(sys.argv[1]); steps["read"] = time.perf_counter() - t
t = time.perf_counter(); demand = aggregate(points, 9); steps["aggregate"] = time.perf_counter() - t
del points
stations = pd.read_parquet(sys.argv[2])
t = time.perf_counter(); result = analyze(stations, demand, metric="great-circle"); steps["analyze"] = time.perf_counter() - t
t = time.perf_counter(); write_outputs(result, sys.argv[3]); steps["write"] = time.perf_counter() - t
print(json.dumps({"total_s": time.perf_counter() - t0, "steps": steps, "cells": len(result.cells),
                  "blind_zones": len(result.blind_zones), "blank_spots": len(result.blank_spots),
                  "covered_share": result.covered_share,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_nearest(n_points: int, n_stations: int, skip_baseline: bool) -> None:
    from yizhan.stations import model
    from yizhan.geodata.sphere import haversine_m
    from yizhan.stations.nearest import StationIndex

    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(109.7, 117.2, n_points), rng.uniform(20.3, 25.5, n_points)
    st = model.empty_frame().reindex(range(n_stations))
    st["id"] = np.arange(n_stations).astype(str)
    st["name"] = st["id"]
    st["type"], st["status"], st["groups"], st["services"], st["hours"] = "工会爱心驿站", "在运营", "", "", ""
    st["lon"], st["lat"] = rng.uniform(109.7, 117.2, n_stations), rng.uniform(20.3, 25.5, n_stations)
    for c in ("address", "adcode", "host", "phone", "source", "updated_at", "orig_crs"):
        st[c] = ""
    index = StationIndex(st)
    t = time.perf_counter()
    idx, dist = index.query(lon, lat, k=1)
    ours = time.perf_counter() - t
    print(f"1. nearest station for {n_points:,} points, {n_stations:,} stations")
    print(f"   yizhan StationIndex.query:          {ours:8.2f} s")
    sample = rng.integers(0, n_points, 2000)
    brute = haversine_m(lon[sample, None], lat[sample, None], st["lon"].to_numpy()[None], st["lat"].to_numpy()[None]).min(axis=1)
    print(f"   max |error| vs brute-force haversine on 2,000 points: {np.abs(brute - dist[sample, 0]).max():.1e} m")
    if skip_baseline:
        return
    import geopandas as gpd

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(32649)
    sts = gpd.GeoDataFrame({"sid": np.arange(n_stations)}, geometry=gpd.points_from_xy(st["lon"], st["lat"]), crs=4326).to_crs(32649)
    t = time.perf_counter()
    gpd.sjoin_nearest(pts, sts, how="left")
    base = time.perf_counter() - t
    print(f"   baseline geopandas sjoin_nearest:   {base:8.2f} s")
    print(f"   ratio sjoin_nearest / yizhan:       {base / ours:8.1f} x   (target >= 10 x)")


def bench_aggregate(n_points: int, skip_baseline: bool) -> None:
    import h3

    from yizhan.coverage import aggregate

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"lon": rng.uniform(109.7, 117.2, n_points), "lat": rng.uniform(20.3, 25.5, n_points),
                          "weight": np.ones(n_points), "hour": rng.integers(0, 24, n_points).astype(np.int8),
                          "group": pd.Categorical.from_codes(rng.integers(0, 4, n_points), categories=GROUPS)})
    t = time.perf_counter()
    grid = aggregate(frame, 9)
    ours = time.perf_counter() - t
    print(f"2. H3 aggregation of {n_points:,} points (res 9, per group and hour)")
    print(f"   yizhan aggregate (h3ronpy):          {ours:8.2f} s   ({len(grid.table):,} rows)")
    if skip_baseline:
        return
    lon, lat = frame["lon"].tolist(), frame["lat"].tolist()
    groups, hours, weights = frame["group"].astype(str).tolist(), frame["hour"].tolist(), frame["weight"].tolist()
    t = time.perf_counter()
    sums: dict[tuple, float] = {}
    for a, b, g, h, w in zip(lon, lat, groups, hours, weights):
        key = (h3.latlng_to_cell(b, a, 9), g, h)
        sums[key] = sums.get(key, 0.0) + w
    base = time.perf_counter() - t
    print(f"   baseline per-point h3-py loop:       {base:8.2f} s   ({len(sums):,} rows)")
    print(f"   ratio loop / yizhan:                {base / ours:8.1f} x   (target >= 4 x)")


def bench_end_to_end(n_points: int, n_stations: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        hot, stations, n_cells = make_input(folder, n_points, n_stations)
        print(f"3. Guangdong-sized end to end: {n_points:,} points on {n_cells:,} res-9 cells, {n_stations:,} stations "
              f"(input generated in {time.perf_counter() - t:.0f} s, not timed)")
        proc = subprocess.run([sys.executable, "-c", CHILD, str(hot), str(stations), str(folder / "out")],
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr[-3000:])
            raise SystemExit("end-to-end run failed")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in res["steps"].items())
        print(f"   total {res['total_s']:.1f} s (target < 60 s): {steps}")
        print(f"   peak memory {res['peak_rss_mib'] / 1024:.2f} GiB (target < 4 GiB); {res['cells']:,} demand cells, "
              f"{res['blank_spots']:,} blank spots, {res['blind_zones']:,} blind zones, "
              f"covered share {res['covered_share']:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--skip-baselines", action="store_true", help="time yizhan only")
    parser.add_argument("--only", choices=["nearest", "aggregate", "end-to-end"], default=None)
    args = parser.parse_args()
    if args.only in (None, "nearest"):
        bench_nearest(args.points, args.stations, args.skip_baselines)
    if args.only in (None, "aggregate"):
        bench_aggregate(args.points, args.skip_baselines)
    if args.only in (None, "end-to-end"):
        bench_end_to_end(args.points, args.stations)


if __name__ == "__main__":
    main()
