"""Vocabulary of the station model: the Qinghai plan's terms (青总办〔2021〕45号) and the truck
drivers' services, alias normalisation, canonical order and round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yizhan.stations import model

SEED_QINGHAI = "/work/shared/seeds/003_aad58036ad9263e8.txt"


@pytest.mark.parametrize("text", [
    "职工服务中心",
    "“会、站、家”一体化",
    "\"会、站、家\"一体化",
    "「会、站、家」一体化",
    "“会、站、家”一体化职工服务中心",
    "会站家一体化",
    "会站家一体",
    "会、站、家一体化服务中心",
    "职工服务中心（会站家一体化）",
    "职工服务中心(“会、站、家”一体)",
    "  会 站 家 一体化  ",
])
def test_hui_zhan_jia_spellings_are_the_service_centre(text: str) -> None:
    assert model.normalize_type(text) == "职工服务中心"
    assert model.canonical_type(text) == "职工服务中心"


@pytest.mark.parametrize(("text", "expected"), [
    ("户外劳动者服务站点", "户外劳动者服务站点"),
    ("户外劳动者站点", "户外劳动者服务站点"),           # the Qinghai plan's short form
    ("户外劳动者服务站", "户外劳动者服务站点"),
    ("红色蒲公英驿站", "户外劳动者服务站点"),
    ("工会户外劳动者服务站点", "工会爱心驿站"),        # with 工会: the union-run station
    ("工会户外劳动者站点", "工会爱心驿站"),
    ("司机之家", "司机之家"),
    ("货车司机之家", "司机之家"),
    ("“司机之家”", "司机之家"),
    ("Drivers' Home", "司机之家"),
    ("ＤＲＩＶＥＲ　ＨＯＭＥ", "司机之家"),             # full-width letters and space (NFKC)
])
def test_type_spellings(text: str, expected: str) -> None:
    assert model.normalize_type(text) == expected


def test_unknown_type_still_unknown() -> None:
    assert model.normalize_type("会站") is None
    assert model.normalize_type("服务中心站点家") is None
    with pytest.raises(ValueError, match="未知站点类型.*unknown station type"):
        model.canonical_type("一体化")


def test_seed_terms_are_in_the_vocabulary() -> None:
    """Every station and service term of the Qinghai seed document is recognised."""
    from pathlib import Path

    path = Path(SEED_QINGHAI)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        for term in ("司机之家", "职工书屋", "温馨小屋", "户外劳动者服务站点", "“会、站、家”一体化"):
            assert term in text
    for term in ("司机之家", "户外劳动者服务站点", "“会、站、家”一体化", "户外劳动者站点"):
        assert model.normalize_type(term) in model.STATION_TYPES
    assert model.normalize_services("职工书屋") == "职工书屋"
    assert model.normalize_services("温馨小屋") == "温馨小屋"


@pytest.mark.parametrize(("text", "expected"), [
    ("职工书屋", "职工书屋"),
    ("书屋", "职工书屋"),
    ("书报", "图书"),                 # a shelf of newspapers is not a 职工书屋
    ("图书", "图书"),
    ("母婴室", "温馨小屋"),
    ("哺乳室", "温馨小屋"),
    ("爱心妈妈小屋", "温馨小屋"),
    ("大车停车", "货车停车"),
    ("重型车停车", "货车停车"),
    ("货车停车位", "货车停车"),
    ("truck_parking", "货车停车"),
    ("停车位", "停车"),               # e-bikes and cars: not the same service
    ("床位", "住宿"),
    ("休息室过夜", "住宿"),
    ("热餐", "餐饮"),
    ("食堂", "餐饮"),
    ("微波炉", "热饭"),               # heating one's own food
    ("洗澡", "淋浴"),
    ("洗衣机", "洗衣"),
])
def test_service_aliases(text: str, expected: str) -> None:
    assert model.normalize_services(text) == expected


def test_services_canonical_order_and_unknown_kept_last() -> None:
    text = "床位、洗衣机、大车停车，热餐;淋浴 母婴室/职工书屋、饮水、按摩椅"
    assert model.normalize_services(text) == "饮水、餐饮、货车停车、淋浴、洗衣、住宿、职工书屋、温馨小屋、按摩椅"
    # order of the input does not matter
    parts = ["床位", "洗衣机", "大车停车", "热餐", "淋浴", "母婴室", "职工书屋", "饮水"]
    rng = np.random.default_rng(45)
    outputs = {model.normalize_services("、".join(rng.permutation(parts))) for _ in range(50)}
    outputs.add(model.normalize_services("、".join(reversed(parts))))
    assert outputs == {"饮水、餐饮、货车停车、淋浴、洗衣、住宿、职工书屋、温馨小屋"}


def test_every_alias_maps_to_a_canonical_value_and_round_trips() -> None:
    """Each alias normalises to its target; canonical values are fixed points; the key-level alias
    tables have no conflicting entries (two spellings with the same key must agree)."""
    tables = [
        (model._TYPE_ALIASES, model.STATION_TYPES, model.normalize_type),
        (model._SERVICE_ALIASES, model.SERVICES, model.normalize_services),
        (model._GROUP_ALIASES, model.GROUPS, model.find_group),
    ]
    for aliases, canonical, normalize in tables:
        by_key: dict[str, str] = {}
        for alias, target in aliases.items():
            assert target in canonical, (alias, target)
            key = model._key(alias)
            assert by_key.setdefault(key, target) == target, f"conflicting aliases for key {key!r}"
            if "/" in alias and normalize is model.normalize_services:
                continue   # "/" separates list items, the alias is a single-value spelling only
            assert normalize(alias) == target, alias
        for name in canonical:
            assert normalize(name) == name
            assert model._key(name) not in by_key or by_key[model._key(name)] == name
    # a services field survives normalise -> split -> join -> normalise
    full = model.SEP.join(reversed(model.SERVICES))
    once = model.normalize_services(full)
    assert once == model.SEP.join(model.SERVICES)
    assert model.normalize_services(model.SEP.join(model.split_list(once))) == once


def test_english_labels_cover_every_value() -> None:
    assert set(model.SERVICES_EN) == set(model.SERVICES)
    assert set(model.STATION_TYPES_EN) == set(model.STATION_TYPES)
    assert all(v.strip() for v in model.SERVICES_EN.values())
    assert len(set(model.SERVICES_EN.values())) == len(model.SERVICES)


def test_service_masks_distinguish_truck_parking_and_reading_room() -> None:
    services = pd.Series(["饮水、停车", "货车停车、淋浴、住宿", "图书", "职工书屋、温馨小屋", None])
    assert model.has_service_mask(services, "大车停车").tolist() == [False, True, False, False, False]
    assert model.has_service_mask(services, "停车").tolist() == [True, False, False, False, False]
    assert model.has_service_mask(services, "书屋").tolist() == [False, False, False, True, False]
    assert model.has_service_mask(services, "图书").tolist() == [False, False, True, False, False]
    assert model.has_service_mask(services, "母婴室").tolist() == [False, False, False, True, False]
    expected = np.array(["床位" in s or "住宿" in s for s in services.fillna("")])
    assert (model.has_service_mask(services, "床位") == expected).all()


def test_driver_home_defaults_to_driver_groups() -> None:
    assert model.DEFAULT_GROUPS_BY_TYPE["司机之家"] == ("网约车司机", "货车司机")
    assert model.DEFAULT_GROUPS_BY_TYPE[model.normalize_type("“会、站、家”一体化")] == model.GROUPS
