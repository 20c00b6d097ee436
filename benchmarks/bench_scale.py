"""Benchmark: hotspot volumes beyond one machine — the single-machine path against Dask, same run.

    python benchmarks/bench_scale.py [--sizes 10,50,100,200] [--file-points 2000000] [--single-cap-gib 8]
                                     [--worker-memory 4GiB] [--data DIR] [--keep]

Input: hive-partitioned Parquet generated here — ``date=2026-11-DD/part-N.parquet``, one day = 5 files
of ``--file-points`` points (10 M by default), row groups of 500 000 — spread over five provinces
(Guangdong, Jiangsu, Zhejiang, Shandong, Henan; points placed with
``yizhan.geodata.boundaries.geometry_of``): 2 % uniform over each province's res-9 cells, 98 %
clustered around 40 hubs (cities) per province; columns lon, lat, weight, time (timestamp), group.  Each
size reads the first days (a folder of symlinks per size).  30 000 stations drawn like the points.
Disk: about 30 bytes a point (200 M: ~6 GB); checked before generating, deleted afterwards.

Engines, each in processes of its own so that every peak (``ru_maxrss``) is that process's:
  * **baseline — single machine**: ``read_hotspots`` (the folder) + ``aggregate`` + ``analyze`` +
    ``write_outputs`` in one child process.  Its memory grows with the points; the parent watches its
    resident memory and stops it above ``--single-cap-gib``, and sizes whose linear projection from the
    sizes measured is above the cap are not started (the limit is shown, not run into).
  * **Dask, 1 and 2 workers**: a real ``dask scheduler`` and ``dask worker --nworkers N`` processes on
    127.0.0.1 (``--memory-limit`` per worker, both cores shared out as threads), and a client process
    running :func:`yizhan.coverage.cluster.analyze_on_cluster` + ``write_outputs``: peak memory of the
    client, the scheduler, each worker and the nanny process.
Also: the network metric after the distributed aggregation (the choice documented in the README):
the client-side step on the cells of the largest size that lie within a 1 M-node road-like network's extent
(``bench_network_split.py`` compares it with a halo-partitioned network).
Results are compared (cells, covered share, blank spots, blind zones) between engines where both ran.
Goal: 200 M points aggregated and analysed with no process above 4 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROVINCES = {"440000": "广东 Guangdong", "320000": "江苏 Jiangsu", "330000": "浙江 Zhejiang",
             "370000": "山东 Shandong", "410000": "河南 Henan"}
GROUPS = ["外卖配送员", "快递员", "网约车司机", "货车司机"]
FILES_PER_DAY = 5
HUBS = 40
#: Share of points spread uniformly over the provinces (the rest around the hubs).
UNIFORM = 0.02


# -- input ----------------------------------------------------------------------------------------------
def province_cells(adcode: str, res: int = 9) -> np.ndarray:
    """Every res-``res`` H3 cell whose centre lies in the province (uint64)."""
    import pyarrow as pa
    from h3ronpy import ContainmentMode
    from h3ronpy.vector import geometry_to_cells

    from yizhan.geodata.boundaries import geometry_of

    cells = geometry_to_cells(geometry_of(adcode), res, containment_mode=ContainmentMode.ContainsCentroid)
    return np.unique(pa.array(cells).to_numpy(zero_copy_only=False).astype(np.uint64))


class Generator:
    """Points over the provinces: a few uniform over the cells, the rest around hubs (gamma-distributed km)."""

    def __init__(self, seed: int = 7) -> None:
        from yizhan.coverage import hexgrid

        parts = [province_cells(a) for a in PROVINCES]
        self.count = np.array([len(p) for p in parts])
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        self.lon, self.lat = hexgrid.cells_to_lonlat(np.concatenate(parts))
        rng = np.random.default_rng(seed)
        self.hubs = np.concatenate([s + rng.integers(0, c, HUBS) for s, c in zip(self.start, self.count)])
        w = rng.gamma(1.0, 1.0, len(self.hubs))
        self.hub_p = w / w.sum()
        self.province_p = self.count / self.count.sum()

    @property
    def n_cells(self) -> int:
        return int(self.count.sum())

    def points(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        uniform = rng.random(n) < UNIFORM
        n_u = int(uniform.sum())
        prov = rng.choice(len(self.count), size=n_u, p=self.province_p)
        cell = self.start[prov] + (rng.random(n_u) * self.count[prov]).astype(np.int64)
        lon, lat = np.empty(n), np.empty(n)
        lon[uniform] = self.lon[cell] + rng.uniform(-4e-4, 4e-4, n_u)
        lat[uniform] = self.lat[cell] + rng.uniform(-4e-4, 4e-4, n_u)
        n_c = n - n_u
        hub = self.hubs[rng.choice(len(self.hubs), size=n_c, p=self.hub_p)]
        r_km, theta = rng.gamma(1.5, 4.0, n_c), rng.uniform(0, 2 * np.pi, n_c)
        lat[~uniform] = self.lat[hub] + r_km * np.sin(theta) / 111.0
        lon[~uniform] = self.lon[hub] + r_km * np.cos(theta) / (111.0 * np.cos(np.radians(self.lat[hub])))
        return lon, lat

    def write_file(self, path: Path, n: int, seed: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        lon, lat = self.points(n, seed)
        rng = np.random.default_rng(seed + 10_000)
        start = np.datetime64("2026-11-01T00:00:00", "s")
        table = pa.table({
            "lon": lon, "lat": lat, "weight": rng.integers(1, 4, n).astype(np.float32),
            "time": pa.array(start + rng.integers(0, 86400, n).astype("timedelta64[s]"), pa.timestamp("s")),
            "group": pa.DictionaryArray.from_arrays(rng.integers(0, 4, n).astype(np.int8), GROUPS),
        })
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, row_group_size=500_000)


def make_data(root: Path, sizes_m: list[int], file_points: int) -> tuple[dict[int, Path], Path, int]:
    """Day folders (FILES_PER_DAY files each), one symlink view per size, the station Parquet."""
    from yizhan.stations import model

    gen = Generator()
    day = FILES_PER_DAY * file_points
    days = -(-max(sizes_m) * 1_000_000 // day)
    t = time.perf_counter()
    for d in range(days):
        for f in range(FILES_PER_DAY):
            path = root / "all" / f"date=2026-11-{d + 1:02d}" / f"part-{f}.parquet"
            if not path.exists():
                gen.write_file(path, file_points, seed=d * 100 + f)
    views = {}
    for size in sizes_m:
        view = root / f"view_{size}M"
        shutil.rmtree(view, ignore_errors=True)
        n_days = -(-size * 1_000_000 // day)
        for d in range(n_days):
            for f in range(FILES_PER_DAY):
                rel = Path(f"date=2026-11-{d + 1:02d}") / f"part-{f}.parquet"
                (view / rel).parent.mkdir(parents=True, exist_ok=True)
                (view / rel).symlink_to(root / "all" / rel)
        views[size] = view
    slon, slat = gen.points(30_000, seed=999_999)
    st = model.empty_frame().reindex(range(len(slon)))
    st["id"] = [f"S{i:05d}" for i in range(len(slon))]
    st["name"] = st["id"]
    st["type"] = "工会爱心驿站"
    st["groups"] = model.SEP.join(model.GROUPS)
    st["status"] = "在运营"
    st["lon"], st["lat"] = slon, slat
    for c in ("hours", "services", "address", "adcode", "host", "phone", "source", "updated_at", "orig_crs"):
        st[c] = ""
    stations = root / "stations.parquet"
    st.to_parquet(stations, index=False)
    print(f"input: {days} days x {FILES_PER_DAY} files x {file_points:,} points over {len(PROVINCES)} provinces "
          f"({gen.n_cells:,} res-9 cells), {du(root / 'all') / 2**30:.1f} GiB Parquet, generated in "
          f"{time.perf_counter() - t:.0f} s (not timed)")
    return views, stations, gen.n_cells


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*.parquet") if f.is_file() and not f.is_symlink())


# -- children ---------------------------------------------------------------------------------------------
SINGLE = r"""
import json, resource, sys, time
import pandas as pd
from yizhan.coverage import aggregate, analyze, read_hotspots
from yizhan.coverage.outputs import write_outputs
t0 = time.perf_counter(); steps = {}
t = time.perf_counter(); points = read_hotspots(sys.argv[1]); steps["read"] = time.perf_counter() - t
n = len(points)
t = time.perf_counter(); demand = aggregate(points, 9); steps["aggregate"] = time.perf_counter() - t
del points
stations = pd.read_parquet(sys.argv[2])
t = time.perf_counter(); result = analyze(stations, demand, metric="great-circle"); steps["analyze"] = time.perf_counter() - t
t = time.perf_counter(); write_outputs(result, sys.argv[3]); steps["write"] = time.perf_counter() - t
print(json.dumps({"total_s": time.perf_counter() - t0, "steps": steps, "points": n, "cells": len(result.cells),
                  "blank_spots": len(result.blank_spots), "blind_zones": len(result.blind_zones),
                  "covered_share": result.covered_share,
                  "memory": {"client": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

DASK = r"""
import json, resource, sys, time
import pandas as pd
from yizhan.coverage.cluster import analyze_on_cluster, connect, process_memory
from yizhan.coverage.outputs import write_outputs
t0 = time.perf_counter()
stations = pd.read_parquet(sys.argv[2])
with connect(sys.argv[4], workers=int(sys.argv[5])) as client:
    run = analyze_on_cluster(client, sys.argv[1], stations, metric="great-circle")
    t = time.perf_counter(); write_outputs(run.result, sys.argv[3]); run.info["steps"]["write"] = time.perf_counter() - t
    memory = process_memory(client)
memory["client"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
r = run.result
print(json.dumps({"total_s": time.perf_counter() - t0, "steps": run.info["steps"], "points": run.info["points"],
                  "partitions": run.info["partitions"], "buckets": run.info["buckets"], "cells": len(r.cells),
                  "blank_spots": len(r.blank_spots), "blind_zones": len(r.blind_zones),
                  "covered_share": r.covered_share, "memory": memory}))
"""

NETWORK = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[3])
from bench_network import road_like_graph
from yizhan.coverage.analysis import measure
from yizhan.coverage import hexgrid
from yizhan.geodata.roads import network_from_edges
cells = hexgrid.str_to_cells(pd.read_parquet(sys.argv[1], columns=["h3"])["h3"].to_numpy(dtype=object))
stations = pd.read_parquet(sys.argv[2])
net = network_from_edges(*road_like_graph(1_000_000, np.random.default_rng(1)), mode="custom", leg_speed_kmh=15.0,
                         reorder=True)
# the cells within the generated network's extent (around Guangzhou): cells hundreds of km from any road
# are not what the step does on a real province's network, and make the nearest-node search crawl
lon, lat = hexgrid.cells_to_lonlat(cells)
inside = (lon >= net.lon.min()) & (lon <= net.lon.max()) & (lat >= net.lat.min()) & (lat <= net.lat.max())
cells = cells[inside]
t = time.perf_counter()
d = measure(cells, stations, metric="network", res=9, network=net)
print(json.dumps({"cells": len(cells), "nodes": net.n_nodes, "seconds": time.perf_counter() - t,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_exe() -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dask"]


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_child(code: str, args: list[str], cap_mib: float | None = None) -> dict:
    """Run a child; with ``cap_mib`` stop it when its resident memory goes above the cap."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, rss_mib(proc.pid))
        if cap_mib and peak > cap_mib:
            proc.kill()
            proc.communicate()
            return {"stopped": True, "watched_peak_mib": peak}
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode:
        print(err[-3000:])
        raise SystemExit(f"child failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def run_dask(view: Path, stations: Path, out: Path, workers: int, memory_limit: str, log_dir: Path) -> dict:
    """A real scheduler and ``dask worker --nworkers N`` on 127.0.0.1, the client in a child process."""
    cores = os.cpu_count() or 1
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([*dask_exe(), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=open(log_dir / "scheduler.log", "w"))]
    procs.append(subprocess.Popen([*dask_exe(), "worker", address, "--host", "127.0.0.1", "--nworkers", str(workers),
                                   "--nthreads", str(max(1, cores // workers)), "--memory-limit", memory_limit,
                                   "--no-dashboard", "--local-directory", str(log_dir / "w")],
                                  stdout=subprocess.DEVNULL, stderr=open(log_dir / "worker.log", "w")))
    try:
        return run_child(DASK, [str(view), str(stations), str(out), address, str(workers)])
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def gib(mib: float) -> str:
    return f"{mib / 1024:.2f}"


def describe(r: dict) -> str:
    m = r["memory"]
    parts = [f"client {gib(m['client'])}"]
    if "scheduler" in m:
        parts.append(f"scheduler {gib(m['scheduler'])}")
        parts += [f"worker {gib(v)}" for v in m["workers"].values()]
        nannies = {m["pids"]["nannies"][k]: v for k, v in m.get("nannies", {}).items()}
        parts += [f"nanny process {gib(v)}" for v in nannies.values()]
    return ", ".join(parts) + " GiB"


def highest(r: dict) -> float:
    m = r["memory"]
    return max([m["client"], m.get("scheduler") or 0, *m.get("workers", {}).values(), *m.get("nannies", {}).values()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100,200", help="millions of points")
    parser.add_argument("--file-points", type=int, default=2_000_000)
    parser.add_argument("--single-cap-gib", type=float, default=8.0)
    parser.add_argument("--worker-memory", default="4GiB")
    parser.add_argument("--data", default=None, help="folder for the generated input (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated input")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    base = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="yizhan-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    need = max(sizes) * 1_000_000 * 32
    free = shutil.disk_usage(base).free
    print(f"disk: {free / 2**30:.0f} GiB free in {base}, about {need / 2**30:.1f} GiB needed")
    if free < need * 1.3:
        raise SystemExit("not enough disk space for the input")
    cap = args.single_cap_gib * 1024
    try:
        views, stations, n_cells = make_data(base, sizes, args.file_points)
        results: dict[tuple[str, int], dict] = {}
        single_peaks: list[tuple[int, float]] = []
        for size in sizes:
            print(f"\n{size} M points ({FILES_PER_DAY * -(-size * 1_000_000 // (FILES_PER_DAY * args.file_points))} files)")
            projected = None
            if len(single_peaks) >= 2:
                (s0, m0), (s1, m1) = single_peaks[-2:]
                projected = m1 + (m1 - m0) / (s1 - s0) * (size - s1)
            if projected is not None and projected > cap:
                print(f"   single machine (baseline): not started — projected peak {gib(projected)} GiB "
                      f"> cap {args.single_cap_gib:.0f} GiB (memory grows linearly with the points)")
            elif any(r.get("stopped") for (k, _), r in results.items() if k == "single"):
                print("   single machine (baseline): not started — a smaller size went above the cap")
            else:
                r = run_child(SINGLE, [str(views[size]), str(stations), str(base / "out_single")], cap_mib=cap)
                results[("single", size)] = r
                if r.get("stopped"):
                    print(f"   single machine (baseline): stopped above the {args.single_cap_gib:.0f} GiB cap")
                else:
                    single_peaks.append((size, r["memory"]["client"]))
                    steps = ", ".join(f"{k} {v:.0f} s" for k, v in r["steps"].items())
                    print(f"   single machine (baseline): {r['total_s']:7.1f} s  peak {describe(r)}  ({steps})")
            for workers in (1, 2):
                log_dir = base / f"logs_{size}_{workers}"
                log_dir.mkdir(exist_ok=True)
                r = run_dask(views[size], stations, base / f"out_dask{workers}", workers, args.worker_memory, log_dir)
                results[(f"dask{workers}", size)] = r
                steps = ", ".join(f"{k} {v:.0f} s" for k, v in r["steps"].items())
                single = results.get(("single", size))
                ratio = (f", {single['total_s'] / r['total_s']:.2f} x the baseline's speed"
                         if single and not single.get("stopped") else "")
                print(f"   Dask, {workers} worker{'s' if workers > 1 else ' '}:        {r['total_s']:7.1f} s  "
                      f"peak {describe(r)}; highest {gib(highest(r))} GiB (goal < 4){ratio}  ({steps}; "
                      f"{r['partitions']} partitions, {r['buckets']} buckets)")
                if single and not single.get("stopped"):
                    same = all(single[k] == r[k] for k in ("cells", "blank_spots", "blind_zones", "points")) and \
                        abs(single["covered_share"] - r["covered_share"]) < 1e-12
                    print(f"      same cells, blank spots, blind zones and covered share as the baseline: {same}")
            r = results[("dask2", size)]
            print(f"   {r['points']:,} points on {r['cells']:,} demand cells ({n_cells:,} cells in the provinces), "
                  f"{r['blank_spots']:,} blank spots, {r['blind_zones']:,} blind zones, "
                  f"covered share {r['covered_share']:.1%}")
        largest = max(sizes)
        net = run_child(NETWORK, [str(base / "out_dask2" / "cells.parquet"), str(stations),
                                  str(Path(__file__).resolve().parent)])
        agg = results[("dask2", largest)]["steps"]["read_aggregate"]
        print(f"\nnetwork metric after the distributed aggregation ({largest} M points): {net['cells']:,} cells on a "
              f"{net['nodes']:,}-node road-like network in {net['seconds']:.1f} s on the client "
              f"(peak {gib(net['peak_mib'])} GiB), against {agg:.1f} s for the distributed read + aggregation")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
            print(f"\ngenerated data deleted ({base})")


if __name__ == "__main__":
    main()
