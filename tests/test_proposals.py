"""Proposal workflow: round trip through the database, scoping, review, conversion to a station."""

from __future__ import annotations

import pytest

from yizhan.stations import RegistryError
from yizhan.stations import proposals as P

pytestmark = pytest.mark.databases         # every test on SQLite and on PostgreSQL

TIANHE = {"username": "tianhe", "role": "district", "adcode": "440106"}
HAIZHU = {"username": "haizhu", "role": "district", "adcode": "440105"}
PLANNER = {"username": "plan1", "role": "planner", "adcode": ""}
# Real points: Tianhe Sports Centre (天河区) and Canton Tower (海珠区), WGS-84.
IN_TIANHE = (113.3245, 23.1375)
IN_HAIZHU = (113.3192, 23.1089)


def test_round_trip_and_history(registry) -> None:
    prop = P.submit(registry, TIANHE, lon=IN_TIANHE[0], lat=IN_TIANHE[1], name="体育中心站", type="爱心驿站",
                    host="超市", services="饮水、微波炉", reason="午间订单多", impact={"new_demand": 120.0})
    assert prop["adcode"] == "440106" and prop["status"] == "待审核"
    assert prop["type"] == "工会爱心驿站" and prop["host"] == "商超" and prop["services"] == ["饮水", "热饭"]
    again = P.get(registry, prop["id"])
    assert again["impact"] == {"new_demand": 120.0} and again["reason"] == "午间订单多"
    reviewed = P.review(registry, PLANNER, prop["id"], accept=True, comment="同意")
    assert reviewed["status"] == "已采纳" and reviewed["reviewed_by"] == "plan1"
    station = P.build(registry, PLANNER, prop["id"])
    assert station["status"] == "筹建中" and station["adcode"] == "440106" and station["name"] == "体育中心站"
    assert registry.history(station["id"]).iloc[0]["user"] == "plan1"
    assert list(P.history(registry, prop["id"])["action"]) == ["submit", "accept", "build"]
    with pytest.raises(RegistryError):
        P.build(registry, PLANNER, prop["id"])          # only once


def test_district_scoping(registry) -> None:
    with pytest.raises(P.PermissionDenied):
        P.submit(registry, TIANHE, lon=IN_HAIZHU[0], lat=IN_HAIZHU[1], name="越界站", type="工会爱心驿站")
    P.submit(registry, TIANHE, lon=IN_TIANHE[0], lat=IN_TIANHE[1], name="天河站", type="工会爱心驿站")
    P.submit(registry, HAIZHU, lon=IN_HAIZHU[0], lat=IN_HAIZHU[1], name="海珠站", type="快递员之家")
    assert list(P.listing(registry, TIANHE)["name"]) == ["天河站"]
    assert list(P.listing(registry, HAIZHU)["name"]) == ["海珠站"]
    assert sorted(P.listing(registry, PLANNER)["name"]) == ["天河站", "海珠站"]
    # planners may propose anywhere
    P.submit(registry, PLANNER, lon=IN_HAIZHU[0], lat=IN_HAIZHU[1], name="规划站", type="司机之家")


def test_only_reviewers_review_and_build(registry) -> None:
    prop = P.submit(registry, TIANHE, lon=IN_TIANHE[0], lat=IN_TIANHE[1], name="天河站", type="工会爱心驿站")
    with pytest.raises(P.PermissionDenied):
        P.review(registry, TIANHE, prop["id"], accept=True)
    with pytest.raises(P.PermissionDenied):
        P.build(registry, TIANHE, prop["id"])
    with pytest.raises(RegistryError):
        P.build(registry, PLANNER, prop["id"])            # not accepted yet
    P.review(registry, PLANNER, prop["id"], accept=False, comment="位置重复")
    with pytest.raises(RegistryError):
        P.review(registry, PLANNER, prop["id"], accept=True)  # already reviewed
    assert P.get(registry, prop["id"])["status"] == "已驳回"
    with pytest.raises(P.PermissionDenied):
        P.submit(registry, {"username": "x", "role": "rider"}, lon=IN_TIANHE[0], lat=IN_TIANHE[1], name="a", type="工会爱心驿站")


@pytest.mark.parametrize("kwargs", [
    {"lon": float("nan"), "lat": 23.1}, {"lon": 113.3, "lat": 95.0}, {"name": ""}, {"type": "火箭站"},
    {"reason": "长" * 2001}, {"host": "商" * 101}, {"services": "、".join(f"服务{i}" for i in range(120))},
])
def test_bad_values_rejected(registry, kwargs: dict) -> None:
    args = {"lon": IN_TIANHE[0], "lat": IN_TIANHE[1], "name": "站", "type": "工会爱心驿站"} | kwargs
    with pytest.raises(RegistryError):
        P.submit(registry, PLANNER, **args)
    assert P.listing(registry, PLANNER).empty
