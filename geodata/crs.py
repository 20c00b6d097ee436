"""Chinese coordinate systems: WGS-84, GCJ-02 (Amap, Tencent) and BD-09 (Baidu), vectorised.

Everything inside yizhan is stored in WGS-84 (EPSG:4326).  Map services in China publish
coordinates in GCJ-02 (国测局, "Mars" coordinates: Amap/高德, Tencent/腾讯) or BD-09 (Baidu/百度,
a further shift of GCJ-02).  Neither is an EPSG system, so pyproj cannot convert them.

Why hand-written: the public converters (eviltransform, coordTransform_py, gcoord) convert one
point per call in Python; here every function takes and returns numpy arrays, so a million
points convert in one pass with no Python loop.  The forward GCJ-02 formula is the widely
published one; the inverses are solved by fixed-point iteration to well below a millimetre
(the one-step inverse most libraries use is off by up to ~2 m).

Points outside China's bounding box are not shifted, as the map services do.
All functions take ``(lon, lat)`` in degrees and return ``(lon, lat)`` float64 arrays.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

CRS = Literal["wgs84", "gcj02", "bd09"]
CRS_NAMES: tuple[str, ...] = ("wgs84", "gcj02", "bd09")
#: Accepted spellings for the ``crs`` argument (lower-cased before lookup).
CRS_ALIASES: dict[str, str] = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "gps": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "amap": "gcj02", "gaode": "gcj02", "高德": "gcj02",
    "tencent": "gcj02", "腾讯": "gcj02", "火星": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "baidu": "bd09", "百度": "bd09", "bd09ll": "bd09",
}

# Krasovsky 1940 ellipsoid parameters used by the GCJ-02 obfuscation.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

# Bounding box inside which the services apply the shift (the customary one).
CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)  # lon_min, lat_min, lon_max, lat_max

_TOL_DEG = 1e-10  # ~0.01 mm
_MAX_ITER = 30


def normalize_crs(crs: str) -> str:
    """Return the canonical name (``wgs84``, ``gcj02`` or ``bd09``) for a user spelling."""
    key = str(crs).strip().lower()
    if key not in CRS_ALIASES:
        raise ValueError(
            f"未知坐标系 {crs!r}，应为 wgs84、gcj02 或 bd09 / unknown coordinate system {crs!r}; "
            "expected wgs84, gcj02 or bd09"
        )
    return CRS_ALIASES[key]


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    return x.astype(np.float64, copy=True), y.astype(np.float64, copy=True)


def in_china_bbox(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies inside the box in which GCJ-02/BD-09 shifts apply."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    lon0, lat0, lon1, lat1 = CHINA_BBOX
    return (x >= lon0) & (x <= lon1) & (y >= lat0) & (y <= lat1)


def _gcj_delta(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """GCJ-02 offset (dlon, dlat) in degrees for WGS-84 points (x=lon, y=lat)."""
    dx = x - 105.0
    dy = y - 35.0
    sq = np.sqrt(np.abs(dx))
    common = (20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)) * 2.0 / 3.0
    tlat = (-100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * sq + common
            + (20.0 * np.sin(dy * np.pi) + 40.0 * np.sin(dy / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(dy / 12.0 * np.pi) + 320.0 * np.sin(dy * np.pi / 30.0)) * 2.0 / 3.0)
    tlon = (300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * sq + common
            + (20.0 * np.sin(dx * np.pi) + 40.0 * np.sin(dx / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(dx / 12.0 * np.pi) + 300.0 * np.sin(dx / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = y / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (tlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (tlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


_CHUNK = 1 << 17


def _chunked(func):  # noqa: ANN001, ANN202
    """Run a point-wise conversion over chunks on all cores (numpy releases the GIL); small inputs
    and scalars go straight through.  Each point's result does not depend on its chunk."""
    import functools
    import os
    from concurrent.futures import ThreadPoolExecutor

    @functools.wraps(func)
    def wrapper(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
        x, y = _arrays(lon, lat)
        if x.ndim != 1 or len(x) < 2 * _CHUNK or (os.cpu_count() or 1) == 1:
            return func(x, y)
        out_x, out_y = np.empty_like(x), np.empty_like(y)

        def part(lo: int) -> None:
            out_x[lo:lo + _CHUNK], out_y[lo:lo + _CHUNK] = func(x[lo:lo + _CHUNK], y[lo:lo + _CHUNK])

        with ThreadPoolExecutor(min(os.cpu_count() or 1, 8)) as pool:
            list(pool.map(part, range(0, len(x), _CHUNK)))
        return out_x, out_y

    return wrapper


def _solve(forward, tx: NDArray, ty: NDArray, x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration from the start ``(x, y)``.

    Each point iterates until its own step is below the tolerance, so a point's result does not
    depend on the other points in the batch (shared polygon vertices convert identically).
    """
    active = np.arange(len(tx))
    for _ in range(_MAX_ITER):
        fx, fy = forward(x[active], y[active])
        ex, ey = tx[active] - fx, ty[active] - fy
        x[active] += ex
        y[active] += ey
        active = active[(np.abs(ex) >= _TOL_DEG) | (np.abs(ey) >= _TOL_DEG)]
        if not len(active):
            break
    return x, y


def _gcj_forward(x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
    """WGS-84 -> GCJ-02 without the bounding-box test (for points known to be inside)."""
    dlon, dlat = _gcj_delta(x, y)
    return x + dlon, y + dlat


@_chunked
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """WGS-84 -> GCJ-02 (Amap/Tencent). Points outside China are returned unchanged."""
    x, y = _arrays(lon, lat)
    m = in_china_bbox(x, y) & np.isfinite(x) & np.isfinite(y)
    if m.any():
        dlon, dlat = _gcj_delta(x[m], y[m])
        x[m] += dlon
        y[m] += dlat
    return x, y


@_chunked
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """GCJ-02 -> WGS-84, exact inverse by fixed-point iteration (error far below 1 mm)."""
    gx, gy = _arrays(lon, lat)
    x, y = gx.copy(), gy.copy()
    m = in_china_bbox(gx, gy) & np.isfinite(gx) & np.isfinite(gy)
    if not m.any():
        return x, y
    tx, ty = gx[m], gy[m]
    wx, wy = _solve(_gcj_forward, tx, ty, tx.copy(), ty.copy())
    x[m], y[m] = wx, wy
    return x, y


@_chunked
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """GCJ-02 -> BD-09 (Baidu). Points outside China are returned unchanged."""
    x, y = _arrays(lon, lat)
    m = in_china_bbox(x, y) & np.isfinite(x) & np.isfinite(y)
    if m.any():
        gx, gy = x[m], y[m]
        z = np.sqrt(gx * gx + gy * gy) + 0.00002 * np.sin(gy * _X_PI)
        theta = np.arctan2(gy, gx) + 0.000003 * np.cos(gx * _X_PI)
        x[m] = z * np.cos(theta) + 0.0065
        y[m] = z * np.sin(theta) + 0.006
    return x, y


@_chunked
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """BD-09 -> GCJ-02: the published one-step inverse refined by fixed-point iteration."""
    bx, by = _arrays(lon, lat)
    x, y = bx.copy(), by.copy()
    m = in_china_bbox(bx, by) & np.isfinite(bx) & np.isfinite(by)
    if not m.any():
        return x, y
    tx, ty = bx[m], by[m]
    px, py = tx - 0.0065, ty - 0.006
    z = np.sqrt(px * px + py * py) - 0.00002 * np.sin(py * _X_PI)
    theta = np.arctan2(py, px) - 0.000003 * np.cos(px * _X_PI)
    gx, gy = _solve(gcj02_to_bd09, tx, ty, z * np.cos(theta), z * np.sin(theta))
    x[m], y[m] = gx, gy
    return x, y


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """WGS-84 -> BD-09 (via GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """BD-09 -> WGS-84 (via GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[NDArray, NDArray]:
    """Convert ``(lon, lat)`` given in ``crs`` (wgs84, gcj02 or bd09, or an alias) to WGS-84."""
    name = normalize_crs(crs)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if name == "bd09":
        return bd09_to_wgs84(lon, lat)
    return _arrays(lon, lat)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[NDArray, NDArray]:
    """Convert WGS-84 ``(lon, lat)`` to ``crs`` (wgs84, gcj02 or bd09, or an alias)."""
    name = normalize_crs(crs)
    if name == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if name == "bd09":
        return wgs84_to_bd09(lon, lat)
    return _arrays(lon, lat)
