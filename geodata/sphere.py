"""Sphere maths shared by every layer: unit vectors, chord <-> great-circle metres, haversine.

Distances on the mean Earth sphere (radius :data:`EARTH_RADIUS_M`, IUGG mean radius R1): exact for
the sphere, within about 0.5 % of the WGS-84 ellipsoid.  Inputs are WGS-84 ``lon, lat`` degrees;
every function takes arrays (numpy broadcasting) and has no Python loop.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["EARTH_RADIUS_M", "unit_vectors", "chord_to_m", "m_to_chord", "haversine_m"]

EARTH_RADIUS_M = 6_371_008.8


def unit_vectors(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """(N, 3) unit vectors on the sphere for WGS-84 lon/lat in degrees."""
    lo = np.radians(np.asarray(lon, dtype=float))
    la = np.radians(np.asarray(lat, dtype=float))
    cl = np.cos(la)
    return np.column_stack([cl * np.cos(lo), cl * np.sin(lo), np.sin(la)])


def chord_to_m(chord: ArrayLike) -> np.ndarray:
    """Great-circle metres for chord lengths between unit vectors."""
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.clip(np.asarray(chord, dtype=float) / 2.0, 0.0, 1.0))


def m_to_chord(distance_m: float) -> float:
    """Chord length between unit vectors for a great-circle distance in metres."""
    return float(2.0 * np.sin(min(distance_m / EARTH_RADIUS_M, np.pi) / 2.0))


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> np.ndarray:
    """Great-circle distance in metres (haversine, mean Earth radius), broadcasting."""
    lo1, la1, lo2, la2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
