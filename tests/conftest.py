"""Shared fixtures: temporary homes and registries, the shared real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INPUT = Path(__file__).resolve().parent / "input_data"
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(relative: str) -> Path:
    """Path of a file in ../shared/data; skip locally when missing, fail in CI (CI=true)."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"shared data file missing: {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home folder; YIZHAN_* settings from the environment are cleared."""
    for key in list(os.environ):
        if key.startswith("YIZHAN_"):
            monkeypatch.delenv(key, raising=False)
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def registry(home: Path):
    """An empty registry in a temporary SQLite file."""
    from yizhan.stations.storage import Registry

    return Registry(f"sqlite:///{home / 'yizhan.sqlite'}")


STATION_HEADER = "编号,名称,类型,地址,服务内容,开放时间,座位数,联系电话,状态,经度,纬度\n"
#: Three well-separated stations in Guangzhou (WGS-84), used by many tests.
STATION_ROWS = [
    "T1,天河体育中心工会爱心驿站,工会爱心驿站,广州市天河区体育西路1号,饮水、充电、休息座椅,08:00-20:00,10,020-12345678,在运营,113.3245,23.1375",
    "T2,琶洲快递员之家,快递员之家,广州市海珠区琶洲大道2号,饮水、热饭,24h,6,,在运营,113.3650,23.1000",
    "T3,白云物流司机之家,司机之家,广州市白云区太和镇3号,停车、淋浴,24h,20,,在运营,113.3500,23.3300",
]


def write_csv(path: Path, rows: list[str], *, header: str = STATION_HEADER, encoding: str = "utf-8") -> Path:
    """Write a small station CSV."""
    path.write_bytes((header + "\n".join(rows) + "\n").encode(encoding))
    return path
