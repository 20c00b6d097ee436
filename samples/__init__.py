"""Embedded samples: deterministic generators of SYNTHETIC stations and hotspots per region.

Samples sit above both base data (:mod:`yizhan.geodata`: boundaries, roads) and the registry
(:mod:`yizhan.stations`: the import path), which is why they are a package of their own and not
part of ``geodata``.  Two regions ship:

* ``guangzhou`` (default) -- a dense city: riders and couriers within a kilometre
  (:mod:`yizhan.samples.guangzhou`);
* ``qinghai`` -- a vast province: 司机之家 along national highways, riders and couriers in
  Xining and Haidong (:mod:`yizhan.samples.qinghai`), with a synthetic highway file for the
  corridor analysis.

Nothing in a sample is real data; the same seed always gives the same files.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["REGIONS", "SAMPLE_USER", "SampleRegion", "region_info", "load_sample", "sample_files"]

#: The user name sample stations are imported (and replaced) as.
SAMPLE_USER = "sample"


@dataclass(frozen=True)
class SampleRegion:
    """A sample region: its generator module and where the maps open."""

    key: str
    name: str          #: Chinese name shown to users
    name_en: str
    module: str        #: generator module under yizhan.samples
    adcode: str        #: default map area (a province or city adcode)


REGIONS: dict[str, SampleRegion] = {
    "guangzhou": SampleRegion("guangzhou", "广州", "Guangzhou", "guangzhou", "440100"),
    "qinghai": SampleRegion("qinghai", "青海", "Qinghai", "qinghai", "630000"),
}


def region_info(region: str) -> SampleRegion:
    """The :class:`SampleRegion` of a name (``guangzhou``, ``qinghai``; case-insensitive)."""
    key = str(region or "").strip().lower()
    if key not in REGIONS:
        raise ValueError(f"未知样例区域 {region!r}，可选 {', '.join(REGIONS)} / unknown sample region {region!r}; "
                         f"expected one of {', '.join(REGIONS)}")
    return REGIONS[key]


def _module(region: SampleRegion):  # noqa: ANN202
    return importlib.import_module(f"{__name__}.{region.module}")


def sample_files(home: str | Path) -> dict[str, Path]:
    """Paths of the sample files in ``<home>/sample/`` (they may not exist)."""
    folder = Path(home) / "sample"
    return {"stations": folder / "stations.csv", "hotspots": folder / "hotspots.csv",
            "roads": folder / "highways.osm", "region": folder / "REGION"}


def load_sample(registry, home: str | Path, *, region: str = "guangzhou", force: bool = False) -> dict[str, Any]:
    """Write the sample files of ``region`` into ``<home>/sample/`` and import its stations.

    Does nothing when the registry already has stations (unless ``force``).  The stations go
    through the same import path as a user's file, as user ``sample``, in the coordinate system
    the region's generator declares (``CRS``; WGS-84 when it does not).  Files: ``stations.csv``
    (the input format of ``import-stations``), ``hotspots.csv`` (of ``analyze --hotspots``, WGS-84),
    ``REGION`` (the region name) and, for regions with highway corridors, ``highways.osm`` (OSM XML).

    With ``force`` the new sample *replaces* the previous one: after the import, every station
    whose latest change was made by user ``sample`` and that is not in the new sample (the
    stations of another region's sample) is deleted, in one batch (``replaced_batch``; undo it with
    ``yizhan undo --batch``).  Stations imported or edited by anyone else are kept, so a sample
    station a user has edited stays, and a user's own stations are never touched.
    """
    from ..stations import import_stations_file

    info = region_info(region)
    if registry.count() and not force:
        return {"loaded": False, "stations": registry.count(), "region": info.key}
    gen = _module(info)
    previous = {sid for sid, user in registry.last_writers().items() if user == SAMPLE_USER} if force else set()
    files = sample_files(home)
    files["stations"].parent.mkdir(parents=True, exist_ok=True)
    for stale in (files["roads"],):
        stale.unlink(missing_ok=True)
    stations = gen.generate_stations()
    stations.to_csv(files["stations"], index=False, encoding="utf-8-sig")
    hotspots = gen.generate_hotspots()
    hotspots.to_csv(files["hotspots"], index=False)
    out: dict[str, Any] = {}
    if hasattr(gen, "write_highways"):
        gen.write_highways(files["roads"])
        out["roads_file"] = str(files["roads"])
    files["region"].write_text(info.key + "\n", encoding="utf-8")
    crs = getattr(gen, "CRS", "wgs84")
    result = import_stations_file(registry, files["stations"], crs=crs, user=SAMPLE_USER)
    replaced_ids = sorted(previous - set(stations["编号"].astype(str)))
    if replaced_ids:
        removed = registry.delete_stations(replaced_ids, user=SAMPLE_USER,
                                           note=f"replaced by the {info.key} sample")
        out.update(replaced=removed["deleted"], replaced_batch=removed["batch"])
    return {"loaded": True, "region": info.key, "name": info.name, "name_en": info.name_en,
            "stations": result["created"] + result["updated"] + result["unchanged"], "crs": crs,
            "hotspots": len(hotspots), "stations_file": str(files["stations"]),
            "hotspots_file": str(files["hotspots"]), **out}
