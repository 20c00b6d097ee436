"""Nearest-station lookup: k nearest by great-circle distance with filters, vectorised.

Stations become unit vectors on the sphere in a scipy cKDTree; the chord distance between unit
vectors is monotonic in the great-circle distance, so the tree's k nearest are exactly the k
nearest on the sphere (no projection, no distortion, valid across all of China).  Filtered
queries (type, worker group, service, open at a time) use a tree over the matching stations,
built once per distinct filter and cached.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from . import crs as crs_mod
from . import model
from .hours import open_mask, parse_time_of_day
from .validate import EARTH_RADIUS_M, chord_to_m, unit_vectors

_CACHE_SIZE = 64


@dataclass(frozen=True)
class OpenAt:
    """A moment for "open at" filters: weekday (0 = Monday) and minute of the day."""

    weekday: int
    minute: int

    @classmethod
    def parse(cls, text: str, *, tz: str = "Asia/Shanghai", today: datetime | None = None) -> OpenAt:
        """``HH:MM`` (today's weekday in ``tz``) or an ISO date-time such as ``2026-11-23T22:30``."""
        text = str(text).strip()
        if "T" in text or "-" in text[:10] and len(text) > 5:
            try:
                dt = datetime.fromisoformat(text)
            except ValueError as exc:
                raise ValueError(f"无法识别的时间 {text!r} / unrecognised time {text!r}") from exc
            return cls(dt.weekday(), dt.hour * 60 + dt.minute)
        minute = parse_time_of_day(text)
        now = today or datetime.now(ZoneInfo(tz))
        return cls(now.weekday(), minute)


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> np.ndarray:
    """Great-circle distance in metres (haversine, mean Earth radius), broadcasting."""
    lo1, la1, lo2, la2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


class StationIndex:
    """Spatial index over a registry frame for k-nearest queries with filters.

    Build it once per registry version; queries are thread-safe for reading (the filter-tree
    cache is a small LRU dict guarded by the GIL).
    """

    def __init__(self, stations: pd.DataFrame) -> None:
        ok = np.isfinite(stations["lon"].to_numpy(dtype=float)) & np.isfinite(stations["lat"].to_numpy(dtype=float))
        self.stations = stations[ok].reset_index(drop=True)
        self.lon = self.stations["lon"].to_numpy(dtype=float)
        self.lat = self.stations["lat"].to_numpy(dtype=float)
        self._vec = unit_vectors(self.lon, self.lat)
        self._tree = cKDTree(self._vec) if len(self._vec) else None
        self._trees: OrderedDict[bytes, tuple[cKDTree | None, np.ndarray]] = OrderedDict()
        self._type = self.stations["type"].astype(str).to_numpy()
        self._status = self.stations["status"].astype(str).to_numpy()

    def __len__(self) -> int:
        return len(self.stations)

    def mask(self, *, type: str | None = None, group: str | None = None, service: str | None = None,
             open_at: OpenAt | None = None, status: str | None = "在运营") -> np.ndarray:
        """Boolean mask of the stations matching every given filter (status 在运营 by default)."""
        m = np.ones(len(self.stations), dtype=bool)
        if status:
            m &= self._status == status
        if type:
            m &= self._type == model.canonical_type(type)
        if group:
            m &= model.serves_mask(self.stations["groups"], model.canonical_group(group))
        if service:
            m &= model.has_service_mask(self.stations["services"], service)
        if open_at is not None:
            m &= open_mask(self.stations["hours"], weekday=open_at.weekday, minute=open_at.minute)
        return m

    def _tree_for(self, mask: np.ndarray | None) -> tuple[cKDTree | None, np.ndarray]:
        if mask is None or mask.all():
            return self._tree, np.arange(len(self.stations))
        key = np.packbits(mask).tobytes()
        hit = self._trees.get(key)
        if hit is not None:
            self._trees.move_to_end(key)
            return hit
        idx = np.flatnonzero(mask)
        entry = (cKDTree(self._vec[idx]) if len(idx) else None, idx)
        self._trees[key] = entry
        if len(self._trees) > _CACHE_SIZE:
            self._trees.popitem(last=False)
        return entry

    def query(self, lon: ArrayLike, lat: ArrayLike, k: int = 1, *,
              mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest stations for many WGS-84 points at once.

        Returns ``(index, distance_m)`` arrays of shape (n_points, k): positions into
        ``self.stations`` and great-circle metres, nearest first; -1 / inf where fewer than k
        stations match.
        """
        lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
        tree, idx = self._tree_for(mask)
        n = len(lon_a)
        out_i = np.full((n, k), -1, dtype=np.int64)
        out_d = np.full((n, k), np.inf)
        if tree is None or n == 0:
            return out_i, out_d
        kk = min(k, len(idx))
        chord, pos = tree.query(unit_vectors(lon_a, lat_a), k=kk)
        chord = chord.reshape(n, kk)
        pos = pos.reshape(n, kk)
        out_i[:, :kk] = idx[pos]
        out_d[:, :kk] = chord_to_m(chord)
        return out_i, out_d

    def nearest(self, lon: float, lat: float, *, crs: str = "wgs84", k: int = 5, type: str | None = None,
                group: str | None = None, service: str | None = None, open_at: OpenAt | None = None,
                status: str | None = "在运营") -> pd.DataFrame:
        """The k nearest matching stations to one point given in ``crs``, nearest first.

        Columns: the registry columns plus ``distance_m`` (great-circle, metres) and, when
        ``open_at`` is given, ``open`` (always True then, since closed stations are filtered).
        """
        wlon, wlat = crs_mod.to_wgs84(lon, lat, crs)
        m = self.mask(type=type, group=group, service=service, open_at=open_at, status=status)
        idx, dist = self.query(wlon, wlat, k, mask=m)
        keep = idx[0] >= 0
        result = self.stations.iloc[idx[0][keep]].copy()
        result["distance_m"] = dist[0][keep]
        return result.reset_index(drop=True)


def nearest_records(result: pd.DataFrame, *, open_at: OpenAt | None = None) -> list[dict[str, object]]:
    """JSON-ready records for a :meth:`StationIndex.nearest` result (the ``nearest --json`` shape)."""
    now_mask = None
    if open_at is not None and len(result):
        now_mask = open_mask(result["hours"], weekday=open_at.weekday, minute=open_at.minute)
    records = []
    for i, row in enumerate(result.itertuples(index=False)):
        rec = {
            "id": row.id, "name": row.name, "type": row.type, "lon": round(float(row.lon), 7),
            "lat": round(float(row.lat), 7), "distance_m": round(float(row.distance_m), 1),
            "address": row.address, "adcode": row.adcode, "groups": model.split_list(row.groups),
            "host": row.host, "services": model.split_list(row.services), "hours": row.hours,
            "capacity": None if pd.isna(row.capacity) else int(row.capacity), "phone": row.phone,
            "status": row.status,
        }
        if now_mask is not None:
            rec["open"] = bool(now_mask[i])
        records.append(rec)
    return records
