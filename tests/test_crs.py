"""Coordinate systems against published reference points and round trips."""

from __future__ import annotations

import numpy as np
import pytest

from yizhan.geodata import crs
from yizhan.geodata.sphere import haversine_m

# Published reference points.
# (a) eviltransform's test table (googollee/eviltransform, python/test.py): WGS-84 -> GCJ-02.
EVILTRANSFORM_WGS_GCJ = [
    # wgs lon, wgs lat, gcj lon, gcj lat
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),   # Shanghai
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),   # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),   # Beijing
]
# (b) geotool's CLI test: one point in all three systems.
GEOTOOL = dict(wgs=(121.0917077, 30.6107779), gcj=(121.09626935575027, 30.608604331756705),
               bd=(121.10271732371203, 30.61484572185035))
# (c) gcoord's unit tests (hujiulong/gcoord): GCJ-02 (123, 45) -> BD-09.
GCOORD_GCJ_BD = ((123.0, 45.0), (123.00636499, 45.00636899))


def _err_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(haversine_m(a[0], a[1], b[0], b[1]))


@pytest.mark.parametrize("wlon,wlat,glon,glat", EVILTRANSFORM_WGS_GCJ)
def test_wgs_to_gcj_reference(wlon: float, wlat: float, glon: float, glat: float) -> None:
    got = crs.wgs84_to_gcj02(wlon, wlat)
    assert _err_m((float(got[0]), float(got[1])), (glon, glat)) < 0.05
    back = crs.gcj02_to_wgs84(glon, glat)
    assert _err_m((float(back[0]), float(back[1])), (wlon, wlat)) < 0.05


def test_geotool_triple() -> None:
    g = crs.wgs84_to_gcj02(*GEOTOOL["wgs"])
    assert _err_m((float(g[0]), float(g[1])), GEOTOOL["gcj"]) < 0.05
    b = crs.wgs84_to_bd09(*GEOTOOL["wgs"])
    assert _err_m((float(b[0]), float(b[1])), GEOTOOL["bd"]) < 0.05
    w = crs.to_wgs84(*GEOTOOL["bd"], "bd09")
    assert _err_m((float(w[0]), float(w[1])), GEOTOOL["wgs"]) < 0.05
    w = crs.to_wgs84(*GEOTOOL["gcj"], "amap")
    assert _err_m((float(w[0]), float(w[1])), GEOTOOL["wgs"]) < 0.05


def test_gcoord_gcj_to_bd() -> None:
    b = crs.gcj02_to_bd09(*GCOORD_GCJ_BD[0])
    assert _err_m((float(b[0]), float(b[1])), GCOORD_GCJ_BD[1]) < 0.05


def test_shift_is_hundreds_of_metres_in_china() -> None:
    # A real shift happens (a no-op implementation would fail this): 100-700 m in China.
    lon, lat = np.array([113.3245, 87.6, 126.6]), np.array([23.1064, 43.8, 45.7])
    g = crs.wgs84_to_gcj02(lon, lat)
    shift = haversine_m(lon, lat, g[0], g[1])
    assert np.all((shift > 100) & (shift < 700))


def test_round_trip_under_half_a_metre_across_china() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.6, 134.7, 20000)
    lat = rng.uniform(18.2, 53.5, 20000)
    for fwd, inv in ((crs.wgs84_to_gcj02, crs.gcj02_to_wgs84), (crs.wgs84_to_bd09, crs.bd09_to_wgs84),
                     (crs.gcj02_to_bd09, crs.bd09_to_gcj02)):
        x, y = fwd(lon, lat)
        bx, by = inv(x, y)
        err = haversine_m(lon, lat, bx, by)
        assert err.max() < 0.5, fwd.__name__
        assert err.max() < 0.01  # the iterative inverse is in fact millimetre-exact


def test_outside_china_not_shifted() -> None:
    lon = np.array([2.35, -74.0, 139.69, 151.2, 138.5])
    lat = np.array([48.85, 40.7, 35.69, -33.9, 56.0])
    for func in (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84, crs.wgs84_to_bd09, crs.bd09_to_wgs84):
        x, y = func(lon, lat)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)


def test_nan_passes_through_and_inputs_not_modified() -> None:
    lon = np.array([113.3, np.nan])
    lat = np.array([23.1, 23.1])
    x, y = crs.to_wgs84(lon, lat, "gcj02")
    assert np.isnan(x[1]) and np.isfinite(x[0])
    assert lon[0] == 113.3  # input untouched


def test_aliases_and_unknown() -> None:
    assert crs.normalize_crs("GCJ-02") == "gcj02"
    assert crs.normalize_crs("百度") == "bd09"
    assert crs.normalize_crs("EPSG:4326") == "wgs84"
    with pytest.raises(ValueError, match="unknown coordinate system"):
        crs.normalize_crs("utm50")


def test_from_wgs84_inverts_to_wgs84() -> None:
    lon, lat = np.array([113.26, 113.9]), np.array([23.13, 22.54])
    for name in crs.CRS_NAMES:
        x, y = crs.from_wgs84(lon, lat, name)
        bx, by = crs.to_wgs84(x, y, name)
        assert haversine_m(lon, lat, bx, by).max() < 0.01
