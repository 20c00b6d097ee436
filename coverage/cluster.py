"""The coverage analysis on a Dask cluster, for hotspot volumes no single process should hold.

>>> from yizhan.coverage.cluster import analyze_on_cluster, connect        # doctest: +SKIP
>>> with connect("local", workers=2) as client:                            # or "tcp://10.0.0.5:8786"
...     run = analyze_on_cluster(client, "s3://bucket/hotspots/*.parquet", registry.stations(),
...                              group="外卖配送员", storage_options={"endpoint_url": "http://minio:9000"})
>>> run.result.summary, run.info["steps"]

How it runs (same answers as :func:`yizhan.coverage.analyze` on the same input):

1. **Read, check, index, reduce.**  The source (file, folder or glob; :mod:`.sources`) is a lazy
   ``dask.dataframe`` with one partition per file or run of Parquet row groups
   (``rows_per_partition``).  Each partition is checked exactly as :func:`read_hotspots` checks a
   file (problems name the file and row), indexed to H3 (:func:`aggregate`), filtered to the
   worker group (and hour) and reduced to partial sums per cell, split into ``buckets`` by the
   cell's resolution-5 parent (:data:`PARENT_RES`).  The partial sums of each bucket meet in a
   tree (``split_every`` at a time), so no task ever holds more than one partition's points or
   one bucket's cells.
2. **Per-cell step per bucket.**  The stations' KD-tree is scattered to every worker once
   (``broadcast``); each bucket's cells get their distance (great-circle), centre, h3 id and
   district on the worker that reduced them.  The grid and network metrics need every demand
   cell at once (one breadth-first search / one Dijkstra from all stations), so they run on the
   client after the distributed reduction: their cost grows with the grid or the road network,
   not with the number of points.
3. **Gather.**  The cells (one row per demand cell, far fewer than points) come back sorted;
   blank spots, blind zones (labelled after gathering, so zones crossing bucket borders are
   whole; their outlines are traced on the workers, each zone whole in one task, and come back
   as WKB), districts without stations and the summary are computed by the same code as the
   single-machine path, and written by :func:`yizhan.coverage.outputs.write_outputs`.  The
   client's memory grows with the demand cells, not with the points.

Sums of weights are added in a different order than on one machine: equal to the last bit for
whole-number weights (and any weights exact in binary), within rounding (~1e-15 relative) else.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..stations import model
from ..stations._errors import ImportValidationError, Problem
from . import distances as dist_mod
from . import hexgrid
from .analysis import CoverageResult, cell_places, finish, hour_row, measure, select_stations, threshold_for
from .demand import UNKNOWN_GROUP, UNKNOWN_HOUR, _labelled, aggregate, check_hotspots
from .sources import Piece, list_files, read_piece, split_pieces

#: Cells are bucketed by their parent at this resolution (about 250 km²): neighbouring cells
#: mostly share a bucket, and a province spreads over hundreds of parents.
PARENT_RES = 5
#: Rows of one input partition (a Parquet file is split at row-group borders to stay near this).
DEFAULT_ROWS_PER_PARTITION = 2_000_000
_MAX_PROBLEMS = 200


# -- the cluster ------------------------------------------------------------------------------------
@contextmanager
def connect(scheduler: str, workers: int | None = None, **cluster_options: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for the run: ``"local"`` starts a ``LocalCluster`` of ``workers``
    processes (threads shared out over the cores) and stops it afterwards; ``tcp://HOST:PORT``
    connects to a running scheduler (waiting for ``workers`` workers when given)."""
    from distributed import Client, LocalCluster

    if scheduler == "local":
        n = int(workers) if workers else max(1, min(os.cpu_count() or 1, 4))
        options = {"n_workers": n, "threads_per_worker": max(1, (os.cpu_count() or 1) // n), "processes": True,
                   "dashboard_address": None, "silence_logs": 40} | cluster_options
        with LocalCluster(**options) as cluster, Client(cluster) as client:
            yield client
        return
    if "://" not in scheduler:
        raise ValueError(f"--scheduler 应为 local 或 tcp://主机:端口，而不是 {scheduler!r} / --scheduler must be "
                         f"'local' or tcp://HOST:PORT, not {scheduler!r}")
    with Client(scheduler, timeout="30s") as client:
        if workers:
            client.wait_for_workers(int(workers), timeout=120)
        yield client


def hotspot_frame(pieces: list[Piece], storage_options: dict[str, Any] | None = None, encoding: str = "auto"):  # noqa: ANN201
    """The raw rows of the pieces as a lazy ``dask.dataframe`` (one partition per piece; columns as
    in the files plus hive columns, so the frame has no fixed schema: ``enforce_metadata`` is off)."""
    import dask.dataframe as dd

    return dd.from_map(read_piece, pieces, storage_options=storage_options, encoding=encoding,
                       meta=pd.DataFrame(), enforce_metadata=False, label="read-hotspots")


# -- tasks (run on the workers) -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Spec:
    """What every task needs to know (small; travels with the graph)."""

    crs: str
    tz: str
    res: int
    group: str | None
    hour: int | None
    hourly: bool
    buckets: int
    several: bool


def bucket_of(cells: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket (0..buckets-1) of each cell: a hash of its resolution-5 parent."""
    if len(cells) == 0:
        return np.empty(0, dtype=np.int64)
    return (pd.util.hash_array(hexgrid.parents(cells, PARENT_RES)) % np.uint64(buckets)).astype(np.int64)


def _empty_partial(hourly: bool) -> pd.DataFrame:
    cols = {"cell": np.empty(0, np.uint64)}
    if hourly:
        cols["hour"] = np.empty(0, np.int8)
    return pd.DataFrame(cols | {"demand": np.empty(0), "points": np.empty(0, np.int64)})


def _reduce(frame: pd.DataFrame, hourly: bool) -> pd.DataFrame:
    """Sum demand and points per cell (and hour), sorted."""
    keys = ["cell", "hour"] if hourly else ["cell"]
    return frame.groupby(keys, sort=True)[["demand", "points"]].sum().reset_index()


def _chunk(raw: pd.DataFrame, piece: Piece, spec: _Spec) -> tuple[Any, ...]:
    """One partition: check, index to H3, filter to the group (and hour), partial sums per bucket.

    Returns ``(stats, bucket_0, …, bucket_{k-1})``; problems are returned, never raised (an
    exception's problem list would not survive the trip back to the client)."""
    label = piece.label if spec.several else None
    stats = {"n_rows": len(raw), "n_bad": 0, "problems": [], "fatal": [], "kinds": set()}
    empty = tuple(_empty_partial(spec.hourly) for _ in range(spec.buckets))
    try:
        checked = check_hotspots(raw, crs=spec.crs, tz=spec.tz, first_row=piece.first_row, label=label,
                                 allow_empty=True)     # no rows at all: reported for the whole input
        grid = aggregate(checked.frame, spec.res)
    except ImportValidationError as exc:
        stats["fatal"] = _labelled(exc.problems, label)
        return (stats, *empty)
    except ValueError as exc:                 # aggregate: input cells coarser than the resolution
        text = str(exc)
        stats["fatal"] = _labelled([Problem(None, "h3", "bad_res", text.split(" / ")[0], text.split(" / ")[-1])],
                                   label)
        return (stats, *empty)
    stats.update(n_bad=checked.n_bad, problems=checked.problems[:_MAX_PROBLEMS], n_points=len(checked.frame),
                 kinds={checked.kind} if checked.n_rows else set())
    t = grid.table
    mask = np.ones(len(t), dtype=bool)
    if spec.group is not None:
        mask &= ((t["group"] == spec.group) | (t["group"] == UNKNOWN_GROUP)).to_numpy()
    if spec.hour is not None and not spec.hourly:
        mask &= ((t["hour"] == spec.hour) | (t["hour"] == UNKNOWN_HOUR)).to_numpy()
    t = _reduce(t.loc[mask, ["cell", "hour", "demand", "points"]], spec.hourly)
    bucket = bucket_of(t["cell"].to_numpy(dtype=np.uint64), spec.buckets)
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(1, spec.buckets))
    t = t.iloc[order]
    edges = [0, *bounds.tolist(), len(t)]
    return (stats, *(t.iloc[a:b].reset_index(drop=True) for a, b in zip(edges[:-1], edges[1:])))


def _combine(*parts: pd.DataFrame) -> pd.DataFrame:
    """Partial sums of one bucket from several partitions -> one partial (sorted by cell)."""
    live = [p for p in parts if len(p)]
    if not live:
        return parts[0]
    hourly = "hour" in live[0].columns
    return live[0] if len(live) == 1 else _reduce(pd.concat(live, ignore_index=True), hourly)


def _merge_stats(*stats: dict) -> dict:
    out = {"n_rows": 0, "n_bad": 0, "n_points": 0, "problems": [], "fatal": [], "kinds": set(), "partitions": 0}
    for s in stats:
        out["n_rows"] += s["n_rows"]
        out["n_bad"] += s["n_bad"]
        out["n_points"] += s.get("n_points", 0)
        out["partitions"] += s.get("partitions", 1)
        out["kinds"] |= s["kinds"]
        out["fatal"] += s["fatal"]
        out["problems"] += s["problems"][: max(0, _MAX_PROBLEMS - len(out["problems"]))]
    return out


def _tree(items: list[Any], func: Any, split_every: int) -> Any:
    """Reduce delayed ``items`` with ``func`` in a tree of fan-in ``split_every``."""
    from dask import delayed

    level = list(items)
    while len(level) > 1:
        level = [delayed(func, pure=True)(*level[i:i + split_every]) for i in range(0, len(level), split_every)]
    return level[0] if len(level) == 1 else delayed(func)(*level)


@dataclass
class _Stations:
    """The stations' KD-trees, scattered to every worker once: ``main`` for the analysis and, for
    hourly coverage, one per hour (stations open at HH:30)."""

    main: tuple[Any, np.ndarray] | None
    by_hour: list[tuple[Any, np.ndarray]] = field(default_factory=list)


def _per_cell(table: pd.DataFrame, hour: int | None) -> pd.DataFrame:
    """Demand per cell for one hour (None = all) from a bucket's (cell[, hour]) sums; demand > 0."""
    if "hour" in table.columns:
        if hour is not None:
            table = table[((table["hour"] == hour) | (table["hour"] == UNKNOWN_HOUR)).to_numpy()]
        table = table.groupby("cell", sort=True)[["demand", "points"]].sum().reset_index()
    return table[table["demand"].to_numpy() > 0].reset_index(drop=True)


def _cell_step(table: pd.DataFrame, stations: _Stations | None, spec: _Spec, threshold: float) -> dict[str, Any]:
    """One bucket's cells: demand, centre, h3 id, district and (great-circle) the nearest station;
    hourly sums of covered demand, or the per-hour demand for the client's metrics."""
    cells_t = _per_cell(table, spec.hour)
    cells = cells_t["cell"].to_numpy(dtype=np.uint64)
    out: dict[str, Any] = {"cell": cells, "demand": cells_t["demand"].to_numpy(dtype=float),
                           "points": cells_t["points"].to_numpy(dtype=np.int64), "places": cell_places(cells)}
    if stations is not None:
        lon, lat = out["places"]["lon"], out["places"]["lat"]
        out["distance"] = dist_mod.great_circle(lon, lat, None, None, tree=stations.main, workers=1)
    if spec.hourly:
        if stations is not None:
            rows = []
            for h in range(24):
                ph = _per_cell(table, h)
                hc = ph["cell"].to_numpy(dtype=np.uint64)
                hlon, hlat = hexgrid.cells_to_lonlat(hc)
                d = dist_mod.great_circle(hlon, hlat, None, None, tree=stations.by_hour[h], workers=1)
                covered = d.distance_m <= threshold
                w = ph["demand"].to_numpy(dtype=float)
                rows.append((float(w.sum()), float(w[covered].sum()), int((~covered).sum())))
            out["hourly"] = rows
        else:
            out["hour_table"] = table
    return out


def _outline_wkb(cells: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outlines of some whole zones (every cell of each): (zone labels, WKB of each outline)."""
    import shapely

    from .gaps import zone_outlines

    zones, local = np.unique(labels, return_inverse=True)
    return zones, shapely.to_wkb(zone_outlines(cells, local.astype(np.int64), len(zones)))


def _outlines_on(client: Any, parts: int) -> Any:
    """A ``zone_outlines`` replacement tracing the blind-zone outlines on the workers, the zones
    dealt out whole over ``parts`` tasks (the tracing is the costliest per-zone step; WKB comes back)."""
    import shapely

    def outlines(cells: np.ndarray, labels: np.ndarray, n_zones: int) -> np.ndarray:
        out = np.full(n_zones, None, dtype=object)
        task = labels % parts
        order = np.argsort(task, kind="stable")
        bounds = np.searchsorted(task[order], np.arange(parts + 1))
        futures = [client.submit(_outline_wkb, cells[order[a:b]], labels[order[a:b]], pure=False)
                   for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        for future in futures:
            zones, wkb = future.result()
            out[zones] = shapely.from_wkb(wkb)
            future.release()
        return out

    return outlines


def _peak_rss_mib() -> tuple[int, float]:
    """This process: (pid, peak resident memory in MiB)."""
    return os.getpid(), round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def process_memory(client: Any) -> dict[str, Any]:
    """Peak resident memory (MiB) of every process of the run — this client, the scheduler, each
    worker and each nanny — and ``pids`` (a ``LocalCluster`` runs its scheduler and nannies inside
    the client process: same pid)."""
    pid, mib = _peak_rss_mib()
    out: dict[str, Any] = {"client": mib}
    pids: dict[str, Any] = {"client": pid}
    try:
        pids["scheduler"], out["scheduler"] = client.run_on_scheduler(_peak_rss_mib)
    except Exception:  # noqa: BLE001 - a scheduler that refuses run_on_scheduler
        out["scheduler"] = pids["scheduler"] = None
    for role, nanny in (("workers", False), ("nannies", True)):
        try:
            found = client.run(_peak_rss_mib, nanny=nanny, on_error="ignore")
        except Exception:  # noqa: BLE001 - workers started without a nanny
            found = {}
        found = {k: v for k, v in found.items() if isinstance(v, tuple)}
        out[role] = {k: v[1] for k, v in found.items()}
        pids[role] = {k: v[0] for k, v in found.items()}
    out["pids"] = pids
    return out


# -- the run ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterRun:
    """A distributed analysis: the same :class:`CoverageResult` as one machine gives, the hourly
    table (with ``hourly=True``) and ``info`` (rows, partitions, buckets, step times, skipped rows)."""

    result: CoverageResult
    hourly: pd.DataFrame | None
    info: dict[str, Any]


def analyze_on_cluster(client: Any, source: str, stations: pd.DataFrame, *, crs: str = "wgs84", res: int = 9,
                       metric: str = "great-circle", group: str | None = None, hour: int | None = None,
                       weekday: int = 0, threshold_m: float | None = None,
                       thresholds: dict[str, float] | None = None, network: Any = None, floor: float = 0.0,
                       hourly: bool = False, skip_bad_rows: bool = False, tz: str = "Asia/Shanghai",
                       encoding: str = "auto", storage_options: dict[str, Any] | None = None,
                       rows_per_partition: int = DEFAULT_ROWS_PER_PARTITION, buckets: int | None = None,
                       split_every: int = 8) -> ClusterRun:
    """Coverage of the hotspots of ``source`` (file, folder, glob or fsspec URL) by ``stations``,
    computed on the Dask cluster of ``client``; same parameters and result as
    :func:`read_hotspots` + :func:`aggregate` + :func:`analyze` (+ :func:`coverage_by_hour` when
    ``hourly``).  Bad rows raise ImportValidationError (with every problem) unless ``skip_bad_rows``."""
    from dask import delayed

    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    res = hexgrid.check_res(res)
    if metric not in dist_mod.METRICS:
        raise ValueError(f"未知距离度量 {metric!r} / unknown metric {metric!r}; expected {', '.join(dist_mod.METRICS)}")
    if metric == "network" and network is None:
        raise ValueError("道路网络距离需要 OSM 文件（--osm）/ the network metric needs a road network (--osm FILE)")
    if group:
        group = model.canonical_group(group)
    threshold = threshold_for(group, threshold_m, thresholds)
    used = select_stations(stations, group=group, hour=hour, weekday=weekday)

    files = list_files(source, storage_options)
    pieces = split_pieces(files, rows_per_partition, storage_options)
    n_threads = sum(w.get("nthreads", 1) for w in client.scheduler_info(n_workers=-1)["workers"].values()) or 1
    k = int(buckets) if buckets else max(2, min(64, 4 * n_threads))
    spec = _Spec(crs, tz, res, group, hour, hourly, k, len(files) > 1)
    frame = hotspot_frame(pieces, storage_options, encoding)
    chunks = [delayed(_chunk, nout=k + 1, pure=True)(part, piece, spec)
              for part, piece in zip(frame.to_delayed(), pieces, strict=True)]
    stats_d = _tree([c[0] for c in chunks], _merge_stats, split_every)
    roots_d = [_tree([c[b + 1] for c in chunks], _combine, split_every) for b in range(k)]
    futures = client.compute([stats_d, *roots_d])
    stats, roots = futures[0].result(), futures[1:]
    steps["read_aggregate"] = time.perf_counter() - t0

    problem: ImportValidationError | None = None
    if stats["fatal"]:
        problem = ImportValidationError(stats["fatal"])
    elif stats["n_rows"] == 0:
        problem = ImportValidationError([Problem(None, None, "empty", "文件没有数据行", "the file has no data rows")])
    elif len(stats["kinds"]) > 1:
        problem = ImportValidationError([Problem(None, None, "mixed", "有的文件是坐标点、有的是 H3 汇总，不能混用",
                                                 "some files hold points and others H3 cells: do not mix them")])
    elif stats["n_bad"] and not skip_bad_rows:
        problem = ImportValidationError(stats["problems"], n_rows=stats["n_rows"])
    if problem is not None:
        client.cancel(roots)
        raise problem

    t = time.perf_counter()
    great = metric == "great-circle"
    payload = None
    if great:
        payload = _Stations(dist_mod.station_tree(used["lon"].to_numpy(float), used["lat"].to_numpy(float))
                            if len(used) else None)
        if hourly:
            for h in range(24):
                uh = select_stations(stations, group=group, hour=h, weekday=weekday)
                payload.by_hour.append(dist_mod.station_tree(uh["lon"].to_numpy(float), uh["lat"].to_numpy(float))
                                       if len(uh) else (None, np.empty((0, 3))))
        if payload.main is None:
            payload.main = (None, np.empty((0, 3)))
        payload = client.scatter(payload, broadcast=True, hash=False)
    parts = client.gather([client.submit(_cell_step, r, payload, spec, threshold, pure=False) for r in roots])
    del roots, futures
    steps["cells"] = time.perf_counter() - t

    t = time.perf_counter()
    order = np.argsort(np.concatenate([p["cell"] for p in parts]), kind="stable")
    cells = np.concatenate([p["cell"] for p in parts])[order]
    demand = np.concatenate([p["demand"] for p in parts])[order]
    points = np.concatenate([p["points"] for p in parts])[order]
    places = {key: np.concatenate([p["places"][key] for p in parts])[order] for key in ("lon", "lat", "adcode")}
    if great:
        d = dist_mod.Distances(np.concatenate([p["distance"].distance_m for p in parts])[order],
                               np.concatenate([p["distance"].station for p in parts])[order])
    hour_rows = [p["hourly"] for p in parts] if hourly and great else None
    hour_tables = [p["hour_table"] for p in parts] if hourly and not great else None
    del parts                     # the client keeps one copy of the cells, not two
    if not great:
        d = measure(cells, used, metric=metric, res=res, network=network)
        steps["distances"] = time.perf_counter() - t
        t = time.perf_counter()
    params = {"metric": metric, "res": res, "group": group, "hour": hour, "weekday": weekday,
              "threshold_m": threshold, "floor": floor, "n_stations": len(used), "n_points": stats["n_points"],
              "mode": getattr(network, "mode", None)}
    result = finish(cells, demand, points, d, used, threshold=threshold, floor=floor, params=params, places=places,
                    outlines=_outlines_on(client, k))
    steps["zones_summary"] = time.perf_counter() - t

    table = None
    if hourly:
        t = time.perf_counter()
        rows = []
        if great:
            for h in range(24):
                total = sum(p[h][0] for p in hour_rows)
                cov = sum(p[h][1] for p in hour_rows)
                n_open = len(select_stations(stations, group=group, hour=h, weekday=weekday))
                rows.append(hour_row(h, n_open, total, cov, sum(p[h][2] for p in hour_rows)))
        else:
            hours = pd.concat(hour_tables, ignore_index=True)
            for h in range(24):
                uh = select_stations(stations, group=group, hour=h, weekday=weekday)
                ph = _per_cell(hours, h)
                dh = measure(ph["cell"].to_numpy(dtype=np.uint64), uh, metric=metric, res=res, network=network)
                covered = dh.distance_m <= threshold
                w = ph["demand"].to_numpy(dtype=float)
                rows.append(hour_row(h, len(uh), float(w.sum()), float(w[covered].sum()), int((~covered).sum())))
        table = pd.DataFrame(rows)
        steps["hourly"] = time.perf_counter() - t
    info = {"partitions": len(pieces), "buckets": k, "input_rows": stats["n_rows"], "points": stats["n_points"],
            "n_skipped": stats["n_bad"], "skipped": stats["problems"], "steps": steps,
            "threads": n_threads, "workers": len(client.scheduler_info(n_workers=-1)["workers"])}
    return ClusterRun(result, table, info)
