"""Benchmark: the registry database at national size (186 100 stations), SQLite and PostgreSQL.

    python benchmarks/bench_registry_db.py [--stations 186100] [--database-url postgresql+psycopg://...]

Without ``--database-url`` a throwaway PostgreSQL server is started on loopback the way the tests
start one (``tests/conftest.py``: initdb into a temporary folder, pg_ctl on a free port; Debian's
``postgresql`` package).  For each database:

* the import of every station in one transaction (``Registry.import_frame``);
* the duplicate check of one web edit: what it read before this release (the whole registry,
  ``Registry.stations()``) against the neighbourhood read through the (lat, lon) index
  (``Registry.near``, a box 1 km wider than the 5 m duplicate radius), and the same box query with
  the index dropped — with the query plan (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL
  ``EXPLAIN (ANALYZE)``);
* ``/api/stations?bbox=`` for a city-sized box (0.3 degrees): SQL box filter vs whole registry + pandas;
* ``Registry.version()`` (polled once a second per web worker), backup and restore.

Each figure is the median of ``--repeat`` runs; the machine is shared, so compare within a run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from yizhan.stations import model
from yizhan.stations.storage import Registry

ROOT = Path(__file__).resolve().parents[1]


def stations(n: int, seed: int = 7) -> pd.DataFrame:
    """n stations over mainland China's populated box (lon 98-123, lat 20-42), uniform."""
    rng = np.random.default_rng(seed)
    frame = model.empty_frame().reindex(range(n))
    frame["id"] = [f"S{i:06d}" for i in range(n)]
    frame["name"] = [f"驿站{i}" for i in range(n)]
    frame["type"] = "工会爱心驿站"
    frame["groups"] = model.SEP.join(model.GROUPS)
    frame["address"] = ""
    frame["adcode"] = rng.integers(110000, 660000, n).astype(str)
    frame["host"] = ""
    frame["services"] = "饮水、充电"
    frame["hours"] = "24h"
    frame["phone"] = ""
    frame["status"] = "在运营"
    frame["source"] = "bench"
    frame["updated_at"] = "2026-12-01T00:00:00"
    frame["lon"] = rng.uniform(98.0, 123.0, n)
    frame["lat"] = rng.uniform(20.0, 42.0, n)
    frame["orig_lon"], frame["orig_lat"], frame["orig_crs"] = frame["lon"], frame["lat"], "wgs84"
    frame["capacity"] = pd.array(rng.integers(0, 30, n), dtype="Int64")
    return frame


def timed(fn, repeat: int) -> float:  # noqa: ANN001
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def plan(reg: Registry, lon: float, lat: float, radius_m: float) -> str:
    dlat = radius_m / 111_195.0
    dlon = dlat / np.cos(np.radians(lat))
    where = (f"lat BETWEEN {lat - dlat} AND {lat + dlat} AND lon BETWEEN {lon - dlon} AND {lon + dlon}")
    with reg.engine.connect() as conn:
        if reg.dialect == "sqlite":
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN SELECT * FROM stations WHERE {where}")).all()
            return "; ".join(str(r[-1]) for r in rows)
        rows = conn.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM stations WHERE {where}")).all()
        return " | ".join(r[0].strip() for r in rows)


def bench(reg: Registry, frame: pd.DataFrame, repeat: int, tmp: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    t = time.perf_counter()
    reg.import_frame(frame, user="bench")
    out["import_s"] = time.perf_counter() - t
    with reg.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    rng = np.random.default_rng(3)
    points = [(float(x), float(y)) for x, y in zip(rng.uniform(100, 121, repeat), rng.uniform(22, 40, repeat))]
    radius = 5.0 + 1000.0
    out["full_load_s"] = timed(reg.stations, repeat)
    it = iter(points * 3)
    out["near_indexed_s"] = timed(lambda: reg.near(*next(it), radius), repeat)
    out["plan_indexed"] = plan(reg, *points[0], radius)
    box = (113.1, 22.95, 113.4, 23.25)
    out["bbox_sql_s"] = timed(lambda: reg.stations(bbox=box), repeat)

    def bbox_pandas() -> None:
        f = reg.stations()
        f[(f["lon"] >= box[0]) & (f["lon"] <= box[2]) & (f["lat"] >= box[1]) & (f["lat"] <= box[3])]
    out["bbox_pandas_s"] = timed(bbox_pandas, repeat)
    out["version_s"] = timed(reg.version, repeat)
    with reg.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_stations_lat_lon"))
        conn.execute(text("ANALYZE"))
    it = iter(points * 3)
    out["near_unindexed_s"] = timed(lambda: reg.near(*next(it), radius), repeat)
    out["plan_unindexed"] = plan(reg, *points[0], radius)
    with reg.engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_stations_lat_lon ON stations (lat, lon)"))
    t = time.perf_counter()
    reg.backup(tmp / f"{reg.dialect}.sqlite")
    out["backup_s"] = time.perf_counter() - t
    t = time.perf_counter()
    reg.restore(tmp / f"{reg.dialect}.sqlite")
    out["restore_s"] = time.perf_counter() - t
    out["count_after_restore"] = reg.count()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", type=int, default=186_100)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: a throwaway server)")
    args = ap.parse_args()
    frame = stations(args.stations)
    results = {}
    server = None
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-db-") as folder:
        tmp = Path(folder)
        results["sqlite"] = bench(Registry(f"sqlite:///{tmp / 'registry.sqlite'}"), frame, args.repeat, tmp)
        url = args.database_url
        if url is None:
            sys.path.insert(0, str(ROOT / "tests"))
            from conftest import PostgresServer, _pg_bindir

            bindir = _pg_bindir()
            if bindir is None:
                raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
            server = PostgresServer(bindir)
            server.start()
            url = server.create_database()
        try:
            reg = Registry(url)
            with reg.engine.connect() as conn:
                version = conn.execute(text("SHOW server_version")).scalar_one()
            results[f"postgresql {version}"] = bench(reg, frame, args.repeat, tmp)
            reg.engine.dispose()
        finally:
            if server is not None:
                server.stop()
    print(f"registry database benchmark: {args.stations:,} stations, median of {args.repeat} runs")
    for name, r in results.items():
        print(f"\n[{name}]")
        print(f"  import (one transaction)          {r['import_s']:8.2f} s")
        print(f"  whole registry read (old edit)    {r['full_load_s'] * 1000:8.1f} ms")
        print(f"  neighbourhood, (lat, lon) index   {r['near_indexed_s'] * 1000:8.2f} ms   plan: {r['plan_indexed']}")
        print(f"  neighbourhood, no index           {r['near_unindexed_s'] * 1000:8.2f} ms   plan: {r['plan_unindexed']}")
        print(f"  city bbox: SQL (index)            {r['bbox_sql_s'] * 1000:8.1f} ms   vs whole read + pandas "
              f"{r['bbox_pandas_s'] * 1000:.1f} ms")
        print(f"  Registry.version()                {r['version_s'] * 1000:8.2f} ms")
        print(f"  backup / restore                  {r['backup_s']:8.2f} s / {r['restore_s']:.2f} s "
              f"({r['count_after_restore']:,} stations restored)")


if __name__ == "__main__":
    main()
