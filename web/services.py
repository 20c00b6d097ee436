"""What the pages and the API share: the registry, the nearest-station index, the demand grid,
the road network, the highway ways and caches of coverage and corridor results — one
:class:`Services` per app.

Heavy objects are built lazily and rebuilt only when their input changed (the registry's
version, the hotspot file's modification time), under a lock so concurrent requests build once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flask import current_app, has_request_context

from ..stations.storage import Registry

log = logging.getLogger(__name__)

_RESULT_CACHE = 16
#: Demand grids kept (one per dataset and resolution).
_DEMAND_CACHE = 4


class Services:
    """Lazily built, shared state of one app."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.home = Path(config["HOME"])
        self.registry = Registry(config["DATABASE_URL"])
        self._lock = threading.RLock()
        self._index = None
        self._index_version: int | None = None
        self._demand: dict[tuple, Any] = {}
        self._results: OrderedDict[tuple, Any] = OrderedDict()
        self._network = None
        self._network_tried = False
        self._ways: tuple[tuple, Any] | None = None     # ((path, mtime_ns), ways frame or the read error)
        self._corridors: OrderedDict[tuple, Any] = OrderedDict()
        self._version = (0.0, -1)   # (checked at, registry version)
        self._datasets = None
        self._newest: tuple[float, Any] = (0.0, None)      # (checked at, newest dataset record or None)

    # -- stations -------------------------------------------------------------------------------
    def registry_version(self) -> int:
        """The registry's version, read from the database at most every ``REGISTRY_POLL_S``
        seconds (default 1; the public nearest API must not query the database on every
        request); :meth:`invalidate` forces a fresh read after a write through the app."""
        checked, version = self._version
        now = time.monotonic()
        max_age = 0.0 if self.config.get("TESTING") else float(self.config.get("REGISTRY_POLL_S", 1.0))
        if now - checked >= max_age:
            version = self.registry.version()
            self._version = (now, version)
        return version

    def invalidate(self) -> None:
        """Forget the cached registry version (call after writing stations)."""
        self._version = (0.0, -1)

    def station_index(self):  # noqa: ANN201
        """The nearest-station index for the current registry (rebuilt after any change, seen
        within a second)."""
        from ..stations.nearest import StationIndex

        version = self.registry_version()
        if self._index is None or self._index_version != version:
            with self._lock:
                if self._index is None or self._index_version != version:
                    self._index = StationIndex(self.registry.stations())
                    self._index_version = version
        return self._index

    # -- demand -----------------------------------------------------------------------------------
    def hotspots_file(self) -> Path | None:
        """The hotspot file the maps use: ``HOTSPOTS_FILE`` or the sample's, if present."""
        configured = self.config.get("HOTSPOTS_FILE")
        path = Path(configured) if configured else self.home / "sample" / "hotspots.csv"
        if not path.is_absolute():
            path = self.home / path
        return path if path.is_file() else None

    # -- hotspot datasets ---------------------------------------------------------------------------
    def datasets(self):  # noqa: ANN201
        """The :class:`~yizhan.coverage.datasets.DatasetStore` of the home (``DATASET_MAX_BYTES``)."""
        if self._datasets is None:
            from ..coverage.datasets import DatasetStore

            with self._lock:
                if self._datasets is None:
                    self._datasets = DatasetStore(self.registry, self.home,
                                                  max_bytes=self.config.get("DATASET_MAX_BYTES"),
                                                  tz=self.config["TIMEZONE"])
        limit = self.config.get("DATASET_MAX_BYTES")
        if limit and int(limit) != self._datasets.max_bytes:       # the setting changed (tests)
            self._datasets.max_bytes = int(limit)
        return self._datasets

    def newest_dataset(self) -> dict[str, Any] | None:
        """The newest hotspot dataset (None when there is none), read at most every
        ``REGISTRY_POLL_S`` seconds; :meth:`datasets_changed` forces a fresh read."""
        checked, record = self._newest
        now = time.monotonic()
        max_age = 0.0 if self.config.get("TESTING") else float(self.config.get("REGISTRY_POLL_S", 1.0))
        if checked == 0.0 or now - checked >= max_age:
            record = self.datasets().newest()
            self._newest = (now, record)
        return record

    def dataset(self, dataset_id: Any = None) -> dict[str, Any] | None:
        """The dataset the maps use: ``dataset_id``'s record (DatasetNotFound when unknown), else the
        newest dataset, else None (then the hotspot file)."""
        if dataset_id is None or str(dataset_id).strip() == "":
            return self.newest_dataset()
        return self.datasets().require(dataset_id)

    def datasets_changed(self, removed: int | None = None) -> None:
        """A dataset was added, renamed or removed through the app: forget the newest one, and
        the demand grids and results of a removed one."""
        self._newest = (0.0, None)
        if removed is not None:
            with self._lock:
                self._demand = {k: v for k, v in self._demand.items() if not (k[0][0] == "dataset"
                                                                           and k[0][1] == int(removed))}
                for key in [k for k in self._results if k[-1][0] == "dataset" and k[-1][1] == int(removed)]:
                    self._results.pop(key, None)

    def demand_source(self, dataset: Any = None) -> tuple | None:
        """What a demand grid is made of, as a cache key: ``("dataset", id, sha256)`` for a hotspot
        dataset (``dataset``: an id or a record; None: the newest, if any), else ``("file", path,
        mtime_ns)`` of the hotspot file, or None when there is neither."""
        record = dataset if isinstance(dataset, dict) else self.dataset(dataset)
        if record is not None:
            return ("dataset", int(record["id"]), record["sha256"])
        path = self.hotspots_file()
        if path is None:
            return None
        return ("file", str(path), path.stat().st_mtime_ns)

    def _points(self, source: tuple):  # noqa: ANN202
        from ..coverage import read_hotspots

        if source[0] == "dataset":
            points = self.datasets().hotspots(source[1])
            points.attrs["source"] = f"dataset:{source[1]} {points.attrs['dataset']['name']}"
        else:
            points = read_hotspots(source[1], tz=self.config["TIMEZONE"], skip_bad_rows=True)
            points.attrs["source"] = Path(source[1]).name
        return points

    def hotspot_points(self, dataset: Any = None):  # noqa: ANN201
        """The hotspot points (as read_hotspots returns them) of ``dataset`` (see :meth:`demand_source`),
        None without any; ``attrs["source"]`` names them."""
        source = self.demand_source(dataset)
        return None if source is None else self._points(source)

    def demand(self, res: int = 9, dataset: Any = None):  # noqa: ANN201
        """The demand grid at ``res`` of ``dataset`` (an id or record; None: the newest dataset, else
        the hotspot file); None when there is no hotspot data.  Kept per (dataset id, sha256) or
        (file, mtime) and resolution: each dataset's grid is built once (the last few kept)."""
        source = self.demand_source(dataset)
        return None if source is None else self._grid(source, res)

    def _grid(self, source: tuple, res: int):  # noqa: ANN202
        from ..coverage import aggregate

        key = (source, int(res))
        hit = self._demand.get(key)
        if hit is None:
            with self._lock:
                hit = self._demand.get(key)
                if hit is None:
                    hit = aggregate(self._points(source), int(res))
                    kept = list(self._demand.items())[-(_DEMAND_CACHE - 1):]
                    self._demand = {**dict(kept), key: hit}
        return hit

    # -- road network -------------------------------------------------------------------------------
    def network(self):  # noqa: ANN201
        """The e-bike road network from ``OSM_FILE`` (None when not configured)."""
        if self._network is None and not self._network_tried:
            with self._lock:
                if self._network is None and not self._network_tried:
                    self._network_tried = True
                    path = self.config.get("OSM_FILE")
                    if path:
                        from ..geodata.roads import load_network

                        try:
                            self._network = load_network(path, mode="ebike", cache_dir=self.home / "cache")
                        except (OSError, ValueError) as exc:
                            log.error("road network %s not loaded: %s", path, exc)
        return self._network

    # -- coverage -------------------------------------------------------------------------------------
    def coverage(self, *, metric: str = "great-circle", group: str | None = None, hour: int | None = None,
                 res: int = 9, threshold_m: float | None = None, dataset: Any = None):  # noqa: ANN201
        """A cached :class:`~yizhan.coverage.CoverageResult` (None without hotspot data) of ``dataset``
        (an id or record; None: the newest dataset, else the hotspot file).  Cached per parameters,
        registry version and demand source (dataset id and sha256, or file and mtime)."""
        from ..coverage import analyze

        source = self.demand_source(dataset)
        if source is None:
            return None
        demand = self._grid(source, res)
        key = (metric, group, hour, res, threshold_m, self.registry.version(), source)
        hit = self._results.get(key)
        if hit is not None:
            self._results.move_to_end(key)
            return hit
        network = self.network() if metric == "network" else None
        if metric == "network" and network is None:
            from .errors import ApiError

            raise ApiError("未配置道路网络（OSM_FILE）", "no road network configured (OSM_FILE)", status=409,
                           field="metric")
        if has_request_context():
            from .ratelimit import check_analysis

            check_analysis()             # a new analysis: counted against the anonymous client's limit
        result = analyze(self.registry.stations(), demand, metric=metric, group=group, hour=hour,
                         threshold_m=threshold_m, thresholds=self.config["THRESHOLDS_M"], network=network)
        with self._lock:
            self._results[key] = result
            while len(self._results) > _RESULT_CACHE:
                self._results.popitem(last=False)
        return result


    # -- highway corridors ------------------------------------------------------------------------------
    def highways_file(self) -> Path | None:
        """The highway file of the corridor layer: ``HIGHWAYS_FILE`` or the sample's
        ``<home>/sample/highways.osm``, if present (None otherwise)."""
        from ..samples import sample_files

        configured = self.config.get("HIGHWAYS_FILE")
        path = Path(configured) if configured else sample_files(self.home)["roads"]
        if not path.is_absolute():
            path = self.home / path
        return path if path.is_file() else None

    def highway_ways(self) -> tuple[tuple, Any] | None:
        """``((path, mtime_ns), ways)``: every numbered motorway/trunk/primary way of the highway
        file, read once per file version (None without a file).  An unreadable file is remembered
        too (not read again until it changes) and answers 404."""
        from .errors import ApiError

        path = self.highways_file()
        if path is None:
            return None
        key = (str(path), path.stat().st_mtime_ns)
        hit = self._ways
        if hit is None or hit[0] != key:
            with self._lock:
                hit = self._ways
                if hit is None or hit[0] != key:
                    from ..geodata.highways import read_corridor_ways

                    try:
                        hit = (key, read_corridor_ways(path))
                    except (OSError, ValueError) as exc:
                        log.error("highway file %s not read: %s", path, exc)
                        hit = (key, exc)
                    self._ways = hit
        if isinstance(hit[1], Exception):
            raise ApiError("公路文件无法读取（HIGHWAYS_FILE）", "the highway file (HIGHWAYS_FILE) cannot be read",
                           status=404)
        return hit

    def corridors(self, *, refs: tuple[str, ...] | None = None, group: str = "货车司机",
                  station_radius_m: float = 2000.0, reach_km: float = 25.0, max_gap_km: float = 50.0):  # noqa: ANN201
        """A cached :class:`~yizhan.coverage.corridors.CorridorResult` of the highway file and the
        registry (None without a highway file); ``refs`` normalised (None: every ref).
        UnknownRefError for a ref without any way in the file."""
        from ..coverage.corridors import analyze_corridors
        from ..geodata.highways import select_refs

        loaded = self.highway_ways()
        if loaded is None:
            return None
        file_key, ways = loaded
        key = (file_key, refs, group, float(station_radius_m), float(reach_km), float(max_gap_km),
               self.registry_version())
        hit = self._corridors.get(key)
        if hit is not None:
            self._corridors.move_to_end(key)
            return hit
        selected = select_refs(ways, refs)
        if has_request_context():
            from .ratelimit import check_analysis

            check_analysis()             # a new analysis: counted against the anonymous client's limit
        result = analyze_corridors(selected, self.registry.stations(), group=group,
                                   station_radius_m=station_radius_m, reach_km=reach_km, max_gap_km=max_gap_km)
        with self._lock:
            self._corridors[key] = result
            while len(self._corridors) > _RESULT_CACHE:
                self._corridors.popitem(last=False)
        return result


def services() -> Services:
    """The :class:`Services` of the current app."""
    return current_app.extensions["yizhan"]
