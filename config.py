"""Configuration in one place: defaults -> ``<home>/config.py`` -> ``YIZHAN_*`` environment variables.

The home folder (``--home`` or ``YIZHAN_HOME``, default ``./instance``) holds the registry
database, imported data, caches and the Flask instance configuration.
"""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path
from typing import Any

#: Every setting with its default.  Names are upper-case so that Flask's ``app.config`` can take
#: them as they are.
DEFAULTS: dict[str, Any] = {
    # storage
    # None -> sqlite:///<home>/yizhan.sqlite (WAL); or postgresql+psycopg://user:password@host:5432/yizhan
    # (also read from the plain DATABASE_URL environment variable when YIZHAN_DATABASE_URL is unset)
    "DATABASE_URL": None,
    # import validation
    "DUPLICATE_RADIUS_M": 5.0,       # two stations closer than this are "the same station twice"
    "DISTRICT_TOLERANCE_M": 2000.0,  # a station may lie this far outside its stated district
    "MAINLAND_BUFFER_M": 3000.0,     # coastal tolerance of the mainland-China outline
    "MAX_UPLOAD_BYTES": 20 * 1024 * 1024,
    # hotspot datasets (yizhan datasets add, the planner upload): the largest file accepted; CSV and
    # Parquet are streamed (never read whole), XLSX/GeoJSON are read whole and refused above 50 MB
    "DATASET_MAX_BYTES": 500 * 1024 * 1024,
    # nearest lookup
    "NEAREST_K": 5,
    "TIMEZONE": "Asia/Shanghai",
    # coverage thresholds per worker group, metres (used by the coverage engine)
    "THRESHOLDS_M": {
        "外卖配送员": 1000.0,
        "快递员": 1000.0,
        "网约车司机": 3000.0,
        "货车司机": 30000.0,
        "其他户外劳动者": 1000.0,
    },
    "DEFAULT_THRESHOLD_M": 1000.0,
    # web
    "HOTSPOTS_FILE": None,           # hotspots the maps use; None -> <home>/sample/hotspots.csv
    "OSM_FILE": None,                # local OSM file: rider page ranks by road distance, network metric
    "HIGHWAYS_FILE": None,           # OSM file of numbered highways (corridor gaps); None -> <home>/sample/highways.osm
    "SESSION_COOKIE_SECURE": False,  # set True behind HTTPS
    "RATE_LIMIT_ENABLED": True,
    "RATE_LIMIT_NEAREST": "120 per minute",  # per client address, public nearest-station API
    "RATE_LIMIT_LOGIN": "10 per minute",     # per client address, login attempts
    "RATE_LIMIT_ANALYSIS": "30 per minute",  # new coverage analyses per anonymous client (cached answers are free)
    "RATE_LIMIT_STORAGE": "memory://",       # per worker; redis://host:6379 to share between workers
    "RATE_LIMIT_STRATEGY": "fixed-window",   # or moving-window, sliding-window-counter (limits library)
    "TILES": "none",                 # none | osm | amap | tianditu
    "TIANDITU_KEY": "",
    # where the maps open (any province): an adcode ("630000" 青海省, "630100" 西宁市, "440106"), a
    # sample region ("guangzhou", "qinghai") or an unambiguous Chinese place name ("西宁市").
    # None -> the sample region recorded by `yizhan demo` (<home>/sample/REGION), else the city
    # holding most stations, else 440100 (广州市).  An invalid value stops the app at start.
    "REGION": None,
    "SECRET_KEY": None,              # generated into <home>/secret_key if missing
    # annual targets (Guangdong's plan: about 200 provincial 工会爱心驿站 a year): new stations per year
    # by station type, and the covered share of demand (0-1) to reach by worker group
    "ANNUAL_TARGETS": {"new_stations": {"工会爱心驿站": 200}, "covered_share": {}},
}

ENV_PREFIX = "YIZHAN_"


def default_home() -> Path:
    """The home folder: ``$YIZHAN_HOME`` or ``./instance``."""
    return Path(os.environ.get("YIZHAN_HOME") or "instance").resolve()


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return type(default)(raw)
    if isinstance(default, (dict, list)):
        return json.loads(raw)
    return raw


def load_config(home: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings for a home folder: defaults, then ``<home>/config.py``, then ``YIZHAN_*`` env, then overrides.

    ``DATABASE_URL`` may also come from the environment variable of that name (the usual one of
    hosting platforms), below ``YIZHAN_DATABASE_URL``."""
    home_path = Path(home).resolve() if home else default_home()
    config: dict[str, Any] = {k: (v.copy() if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    file = home_path / "config.py"
    if file.is_file():
        values = runpy.run_path(str(file))
        config.update({k: v for k, v in values.items() if k.isupper()})
    if os.environ.get("DATABASE_URL"):
        config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    for key, default in DEFAULTS.items():
        raw = os.environ.get(ENV_PREFIX + key)
        if raw is not None and raw != "":
            config[key] = _coerce(raw, default if default is not None else "")
    config.update({k: v for k, v in overrides.items() if v is not None})
    config["HOME"] = str(home_path)
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{home_path / 'yizhan.sqlite'}"
    return config


def validation_options(config: dict[str, Any]) -> dict[str, float]:
    """The station validation settings of ``config`` as keyword arguments of the import."""
    return {"duplicate_radius_m": float(config["DUPLICATE_RADIUS_M"]),
            "district_tolerance_m": float(config["DISTRICT_TOLERANCE_M"]),
            "mainland_buffer_m": float(config["MAINLAND_BUFFER_M"])}
