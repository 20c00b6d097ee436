"""Opening hours: every accepted form, overnight and closed days, errors, and a brute-force oracle."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from yizhan.stations.hours import (
    DEFAULT_WEEKDAY,
    MINUTES_PER_WEEK,
    HoursError,
    OpeningHours,
    open_hour_matrix,
    open_mask,
    parse_time_of_day,
    validate_hours,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def open_days(oh: OpeningHours, at: str) -> list[int]:
    return [d for d in range(7) if oh.is_open(d, hm(at))]


# --- accepted forms ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("08:00-20:00", "08:00-20:00"),
        ("8:00-20:00", "08:00-20:00"),
        ("８：００－２０：００", "08:00-20:00"),
        ("08:00～20:00", "08:00-20:00"),
        ("08:00—20:00", "08:00-20:00"),
        ("08:00 至 20:00", "08:00-20:00"),
        ("8点-20点", "08:00-20:00"),
        ("8点半-20点", "08:30-20:00"),
        ("上午8:00-12:00，下午2:00-6:00", "08:00-12:00,14:00-18:00"),
        ("24h", "24h"),
        ("24H", "24h"),
        ("24小时", "24h"),
        ("24 小时营业", "24h"),
        ("全天", "24h"),
        ("全天开放", "24h"),
        ("7×24小时", "24h"),
        ("00:00-24:00", "24h"),
        ("00:00-00:00", "24h"),
        ("24/7", "24h"),
        ("Mo-Su 00:00-24:00", "24h"),
        ("08:00-12:00,14:00-20:00", "08:00-12:00,14:00-20:00"),
        ("08:00-12:00，14:00-20:00", "08:00-12:00,14:00-20:00"),
        ("08:00-12:00、14:00-20:00", "08:00-12:00,14:00-20:00"),
        ("08:00-12:00/14:00-20:00", "08:00-12:00,14:00-20:00"),
        ("14:00-20:00, 08:00-12:00", "08:00-12:00,14:00-20:00"),
        ("08:00-14:00,12:00-20:00", "08:00-20:00"),
        ("22:00-06:00", "22:00-06:00"),
        ("周一至周五 08:00-20:00; 周六 09:00-12:00", "周一至周五 08:00-20:00；周六 09:00-12:00"),
        ("周一至周五 08:00-20:00；周六 09:00-12:00", "周一至周五 08:00-20:00；周六 09:00-12:00"),
        ("周一至周五：08:00-20:00，周六：09:00-12:00", "周一至周五 08:00-20:00；周六 09:00-12:00"),
        ("周一至周五8:00-20:00 周六9:00-12:00", "周一至周五 08:00-20:00；周六 09:00-12:00"),
        ("周一-周五 08:00-20:00", "周一至周五 08:00-20:00"),
        ("周一至五 08:00-20:00", "周一至周五 08:00-20:00"),
        ("星期一至星期五 08:00-20:00", "周一至周五 08:00-20:00"),
        ("星期一到星期五 08:00-20:00", "周一至周五 08:00-20:00"),
        ("礼拜一到礼拜五 08:00-20:00", "周一至周五 08:00-20:00"),
        ("每周一至周五 08:00-20:00", "周一至周五 08:00-20:00"),
        ("工作日 08:00-18:00", "周一至周五 08:00-18:00"),
        ("周末 10:00-16:00", "周六、周日 10:00-16:00"),
        ("双休日 10:00-16:00", "周六、周日 10:00-16:00"),
        ("工作日 08:00-18:00；周末 10:00-16:00", "周一至周五 08:00-18:00；周六、周日 10:00-16:00"),
        ("每天 07:00-21:00", "07:00-21:00"),
        ("每日 07:00-21:00", "07:00-21:00"),
        ("周一至周日 07:00-21:00", "07:00-21:00"),
        ("周一、三、五 08:00-12:00", "周一、周三、周五 08:00-12:00"),
        ("周一、周三、周五 08:00-12:00", "周一、周三、周五 08:00-12:00"),
        ("周六日 09:00-12:00", "周六、周日 09:00-12:00"),
        ("周六和周日 09:00-12:00", "周六、周日 09:00-12:00"),
        ("周五至周一 10:00-12:00", "周一、周五至周日 10:00-12:00"),
        ("周一至周五 08:00-20:00；周日休息", "周一至周五 08:00-20:00"),
        ("周一至周六 08:00-20:00，周日闭站", "周一至周六 08:00-20:00"),
        ("08:00-20:00；周日休息", "周一至周六 08:00-20:00"),
        ("每天 08:00-20:00；周六日不开放", "周一至周五 08:00-20:00"),
        ("周一至周五 08:00-20:00，节假日休息", "周一至周五 08:00-20:00"),
        ("周一至周日（节假日除外）08:00-20:00", "08:00-20:00"),
        ("每天 07:00-21:00；周六 09:00-12:00", "周一至周五、周日 07:00-21:00；周六 09:00-12:00"),
        ("Mo-Fr 08:00-20:00; Sa 09:00-12:00; Su off", "周一至周五 08:00-20:00；周六 09:00-12:00"),
        ("mo-fr 08:00-20:00; sa 09:00-12:00; su closed", "周一至周五 08:00-20:00；周六 09:00-12:00"),
        ("Mo,We,Fr 08:00-12:00", "周一、周三、周五 08:00-12:00"),
        ("Mon-Fri 08:00-12:00,13:00-17:00; Su,PH off", "周一至周五 08:00-12:00,13:00-17:00"),
        ("开放时间：周一至周五 9:00-17:00", "周一至周五 09:00-17:00"),
        ("全年无休 24小时", "24h"),
        ("休息", "休息"),
    ],
)
def test_accepted_forms(text: str, canonical: str) -> None:
    oh = OpeningHours.parse(text)
    assert oh.canonical == canonical
    assert not oh.is_unknown
    assert validate_hours(text) is None
    again = OpeningHours.parse(oh.canonical)  # the canonical form parses back to the same hours
    assert again == oh
    assert again.canonical == canonical
    assert np.array_equal(again.bitmap, oh.bitmap)


def test_simple_range_is_half_open() -> None:
    oh = OpeningHours.parse("08:00-20:00")
    for d in range(7):
        assert not oh.is_open(d, hm("07:59"))
        assert oh.is_open(d, hm("08:00"))
        assert oh.is_open(d, hm("19:59"))
        assert not oh.is_open(d, hm("20:00"))
    assert oh.open_minutes_per_week() == 7 * 12 * 60
    assert oh.intervals[0] == (hm("08:00"), hm("20:00"))
    assert not oh.always_open


def test_always_open() -> None:
    for text in ("24h", "24小时", "全天", "00:00-24:00", "24/7"):
        oh = OpeningHours.parse(text)
        assert oh.always_open and oh.canonical == "24h"
        assert oh.intervals == ((0, MINUTES_PER_WEEK),)
        assert oh.open_minutes_per_week() == MINUTES_PER_WEEK
        assert oh.bitmap.all()


def test_day_qualified_leaves_other_days_closed() -> None:
    oh = OpeningHours.parse("周一至周五 08:00-20:00; 周六 09:00-12:00")
    assert open_days(oh, "10:00") == [MON, TUE, WED, THU, FRI, SAT]
    assert open_days(oh, "13:00") == [MON, TUE, WED, THU, FRI]
    assert open_days(oh, "08:30") == [MON, TUE, WED, THU, FRI]
    assert oh.open_minutes_per_week() == 5 * 720 + 180


def test_later_clause_replaces_earlier_for_its_days() -> None:
    oh = OpeningHours.parse("每天 07:00-21:00；周六 09:00-12:00")
    assert not oh.is_open(SAT, hm("07:30"))
    assert oh.is_open(SAT, hm("09:30"))
    assert oh.is_open(SUN, hm("07:30"))


def test_enumerated_days() -> None:
    oh = OpeningHours.parse("周一、三、五 08:00-12:00")
    assert open_days(oh, "09:00") == [MON, WED, FRI]


# --- overnight ------------------------------------------------------------------------------

def test_overnight_every_day() -> None:
    oh = OpeningHours.parse("22:00-06:00")
    assert oh.is_open(TUE, hm("02:00"))
    assert oh.is_open(MON, hm("23:00"))
    assert oh.is_open(MON, hm("05:59"))  # Sunday night's range runs into Monday morning
    assert not oh.is_open(MON, hm("06:00"))
    assert not oh.is_open(MON, hm("21:59"))
    assert oh.open_minutes_per_week() == 7 * 8 * 60


def test_overnight_sunday_into_monday() -> None:
    oh = OpeningHours.parse("周日 22:00-06:00")
    assert oh.is_open(SUN, hm("22:00"))
    assert oh.is_open(SUN, hm("23:59"))
    assert oh.is_open(MON, hm("00:00"))
    assert oh.is_open(MON, hm("02:00"))
    assert not oh.is_open(MON, hm("06:00"))
    assert not oh.is_open(SUN, hm("02:00"))  # Saturday has no range
    assert not oh.is_open(TUE, hm("02:00"))
    # split at the week boundary: Monday 00:00-06:00 and Sunday 22:00-24:00
    assert oh.intervals == ((0, 360), (6 * 1440 + 1320, MINUTES_PER_WEEK))
    assert oh.canonical == "周日 22:00-06:00"


def test_overnight_friday_spills_into_closed_saturday() -> None:
    oh = OpeningHours.parse("周五 22:00-06:00；周六休息")
    assert oh.is_open(SAT, hm("05:00"))
    assert not oh.is_open(SAT, hm("07:00"))


def test_same_start_and_end_is_24_hours() -> None:
    oh = OpeningHours.parse("周一 06:00-06:00")
    assert oh.is_open(MON, hm("06:00"))
    assert oh.is_open(TUE, hm("05:59"))
    assert not oh.is_open(TUE, hm("06:00"))
    assert not oh.is_open(MON, hm("05:59"))
    assert oh.open_minutes_per_week() == 1440


def test_canonical_is_normal_form() -> None:
    a = OpeningHours.parse("周一至周五 8:00-20:00；周六、周日 08:00-20:00")
    b = OpeningHours.parse("8点-20点")
    assert a == b and a.canonical == b.canonical == "08:00-20:00"
    assert hash(a) == hash(b)


# --- closed days, holidays, unknown ----------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "closed_days"),
    [
        ("周日休息", [SUN]),
        ("周日闭站", [SUN]),
        ("周六日不开放", [SAT, SUN]),
        ("Su off", [SUN]),
        ("08:00-20:00；周日休息", [SUN]),
        ("周一至周五 08:00-20:00；周六、周日 休息", [SAT, SUN]),
    ],
)
def test_closed_days(text: str, closed_days: list[int]) -> None:
    oh = OpeningHours.parse(text)
    noon = hm("12:00")
    assert [d for d in range(7) if not oh.is_open(d, noon)] == closed_days


def test_closures_only_leave_other_days_open_all_day() -> None:
    oh = OpeningHours.parse("周日休息")
    assert oh.open_minutes_per_week() == 6 * 1440
    assert oh.is_open(SAT, 0) and not oh.is_open(SUN, 0)


def test_holidays_are_ignored() -> None:
    plain = OpeningHours.parse("周一至周五 08:00-20:00")
    for text in ("周一至周五 08:00-20:00；节假日休息", "周一至周五 08:00-20:00，法定节假日照常开放",
                 "周一至周五 08:00-20:00 (节假日除外)", "Mo-Fr 08:00-20:00; PH off"):
        oh = OpeningHours.parse(text)
        assert oh == plain, text
        assert oh.ignored, text
    alone = OpeningHours.parse("节假日休息")
    assert alone.is_unknown and alone.ignored == ("节假日休息",)


@pytest.mark.parametrize("text", [None, "", "   ", "未知", "不详", "-", float("nan"), pd.NA])
def test_unknown(text: object) -> None:
    oh = OpeningHours.parse(text)  # type: ignore[arg-type]
    assert oh.is_unknown and oh.canonical == "" and not oh.always_open
    assert oh.is_open(MON, 0)
    assert not oh.is_open(MON, 0, unknown_open=False)
    assert oh.open_minutes_per_week() == MINUTES_PER_WEEK
    assert oh.open_minutes_per_week(unknown_open=False) == 0
    assert validate_hours(text) is None  # type: ignore[arg-type]


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "zh", "en"),
    [
        ("25:00-26:00", "无效的时间", "invalid time"),
        ("08:61-09:00", "无效的时间", "invalid time"),
        ("24:30-06:00", "无效的时间", "invalid time"),
        ("24:00-06:00", "开始时间不能是 24:00", "cannot start at 24:00"),
        ("abc", "无法识别", "unrecognised"),
        ("sunrise-sunset", "无法识别", "unrecognised"),
        ("08:00-", "时间段不完整", "incomplete time range"),
        ("08:00", "时间段不完整", "incomplete time range"),
        ("周一至周五 08:00", "时间段不完整", "incomplete time range"),
        ("周八 08:00-20:00", "无效的星期", "invalid weekday"),
        ("星期七 08:00-20:00", "无效的星期", "invalid weekday"),
        ("周 08:00-20:00", "无效的星期", "invalid weekday"),
        ("周一至周五", "缺少开放时间", "has no hours"),
        ("08:00-20:00 休息", "同时写了时间和休息", "gives both hours and closed"),
        ("三 08:00-20:00", "无法识别", "unrecognised"),
        ("至周五 08:00-20:00", "前缺少星期或时间", "without a weekday"),
        ("开放", "没有找到开放时间", "no hours found"),
    ],
)
def test_bad_inputs_raise_bilingual(text: str, zh: str, en: str) -> None:
    with pytest.raises(HoursError) as info:
        OpeningHours.parse(text)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith(f"无法解析开放时间 \"{text}\"：")
    assert f" / cannot parse opening hours \"{text}\": " in message
    assert zh in info.value.zh and en in info.value.en
    assert message.index(zh) < message.index(" / ") < message.index(en)  # Chinese first
    assert validate_hours(text) == message


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        OpeningHours.parse(800)  # type: ignore[arg-type]


def test_parse_time_of_day() -> None:
    assert parse_time_of_day("08:30") == 510
    assert parse_time_of_day("8:30") == 510
    assert parse_time_of_day("0:00") == 0
    assert parse_time_of_day("23:59") == 1439
    assert parse_time_of_day("２３：５９") == 1439
    for bad in ("24:00", "8", "8:5", "08:60", "abc", "", "-1:00", "8:30pm"):
        with pytest.raises(ValueError, match=r"无效的时刻 .* / invalid time of day"):
            parse_time_of_day(bad)


def test_is_open_checks_arguments() -> None:
    oh = OpeningHours.parse("24h")
    with pytest.raises(ValueError, match="weekday must be 0"):
        oh.is_open(7, 0)
    with pytest.raises(ValueError, match="minute must be 0 to 1439"):
        oh.is_open(0, 1440)
    with pytest.raises(ValueError, match="minute must be 0 to 1439"):
        open_mask(["24h"], weekday=0, minute=-1)


def test_is_open_at() -> None:
    oh = OpeningHours.parse("周日 22:00-06:00")
    assert oh.is_open_at(datetime(2024, 6, 3, 2, 0))  # a Monday
    assert not oh.is_open_at(datetime(2024, 6, 4, 2, 0))  # a Tuesday
    assert oh.is_open_at(datetime(2024, 6, 2, 23, 59, 59))  # a Sunday
    assert OpeningHours.parse(None).is_open_at(datetime(2024, 6, 4, 2, 0))


def test_bitmap_is_read_only() -> None:
    oh = OpeningHours.parse("08:00-20:00")
    assert oh.bitmap.shape == (7, 1440)
    with pytest.raises(ValueError):
        oh.bitmap[0, 0] = True


def test_from_bitmap_round_trip() -> None:
    oh = OpeningHours.parse("周一至周五 08:00-20:00；周日 22:00-06:00")
    assert OpeningHours.from_bitmap(oh.bitmap) == oh


# --- vectorised -----------------------------------------------------------------------------

def test_open_mask_basic() -> None:
    hours = pd.Series(
        ["08:00-20:00", None, "24h", "08:00-20:00", np.nan, "周日 22:00-06:00", "", "周一至周五 09:00-17:00"],
        index=list("abcdefgh"),
    )
    mask = open_mask(hours, weekday=MON, minute=hm("02:00"))
    assert mask.dtype == bool and mask.shape == (8,)
    assert mask.tolist() == [False, True, True, False, True, True, True, False]
    strict = open_mask(hours, weekday=MON, minute=hm("02:00"), unknown_open=False)
    assert strict.tolist() == [False, False, True, False, False, True, False, False]
    saturday = open_mask(list(hours), weekday=SAT, minute=hm("10:00"))
    assert saturday.tolist() == [True, True, True, True, True, False, True, False]


def test_open_mask_weekday_none_means_monday() -> None:
    hours = ["周一 08:00-09:00", "周二 08:00-09:00", "周六 08:00-09:00"]
    assert DEFAULT_WEEKDAY == MON
    assert open_mask(hours, weekday=None, minute=hm("08:30")).tolist() == [True, False, False]
    assert open_mask(hours, minute=hm("08:30")).tolist() == [True, False, False]


def test_open_mask_reports_every_bad_string() -> None:
    with pytest.raises(HoursError) as info:
        open_mask(["08:00-20:00", "abc", "08:00-", "abc", None], weekday=0, minute=600)
    message = str(info.value)
    assert "\"abc\"" in message and "\"08:00-\"" in message
    assert "无法解析 2 条开放时间" in message and "cannot parse 2 opening-hours strings" in message
    assert [p.text for p in info.value.problems] == ["abc", "08:00-"]
    with pytest.raises(HoursError, match="周八"):
        open_mask(pd.Series(["周八 08:00-20:00"]), weekday=0, minute=600)


def test_open_mask_empty_input() -> None:
    assert open_mask([], weekday=0, minute=0).shape == (0,)
    assert open_hour_matrix([]).shape == (0, 24)


def test_open_hour_matrix_uses_half_past() -> None:
    hours = ["08:00-20:00", "08:45-09:15", "08:15-08:45", None, "周日 22:00-06:00"]
    mat = open_hour_matrix(hours)
    assert mat.shape == (5, 24) and mat.dtype == bool
    assert mat[0].tolist() == [8 <= h < 20 for h in range(24)]
    assert mat[1].tolist() == [False] * 24  # open 08:45-09:15 but not at 08:30 or 09:30
    assert mat[2].tolist() == [h == 8 for h in range(24)]
    assert mat[3].all()
    assert not open_hour_matrix(hours, unknown_open=False)[3].any()
    assert mat[4].tolist() == [h < 6 for h in range(24)]  # Monday morning, from Sunday night
    assert open_hour_matrix(hours, weekday=SUN)[4].tolist() == [h >= 22 for h in range(24)]


# --- brute force: random specs against an independent minute-by-minute oracle ---------------

_ZH = ["一", "二", "三", "四", "五", "六", "日"]
_EN = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
_FULLWIDTH = str.maketrans("0123456789:;,-", "０１２３４５６７８９：；，－")


def _render_time(minute: int, rng: np.random.Generator) -> str:
    h, m = divmod(minute, 60)
    if m == 0 and h < 24 and rng.random() < 0.15:
        return f"{h}点"
    return f"{h}:{m:02d}" if rng.random() < 0.3 else f"{h:02d}:{m:02d}"


def _render_days(days: list[int], rng: np.random.Generator, english: bool) -> str:
    if english:
        if len(days) > 1 and days == list(range(days[0], days[-1] + 1)):
            return f"{_EN[days[0]]}-{_EN[days[-1]]}"
        return ",".join(_EN[d] for d in days)
    if days == list(range(7)) and rng.random() < 0.5:
        return str(rng.choice(["每天", "每日"]))
    if days == [0, 1, 2, 3, 4] and rng.random() < 0.5:
        return "工作日"
    if days == [5, 6] and rng.random() < 0.5:
        return "周末"
    if len(days) > 1 and days == list(range(days[0], days[-1] + 1)):
        style = rng.integers(4)
        return [f"周{_ZH[days[0]]}至周{_ZH[days[-1]]}", f"周{_ZH[days[0]]}-周{_ZH[days[-1]]}",
                f"星期{_ZH[days[0]]}到星期{_ZH[days[-1]]}", f"周{_ZH[days[0]]}至{_ZH[days[-1]]}"][style]
    if rng.random() < 0.5:
        return "、".join(f"周{_ZH[d]}" for d in days)
    return f"周{_ZH[days[0]]}" + "".join(f"、{_ZH[d]}" for d in days[1:])


def _random_spec(rng: np.random.Generator) -> tuple[str, set[tuple[int, int]]]:
    """A random hours text and the (weekday, minute) pairs it is open, built without the parser."""
    english = rng.random() < 0.3
    clauses: list[tuple[list[int] | None, str, list[tuple[int, int]]]] = []
    for i in range(int(rng.integers(1, 5))):
        if i == 0 and rng.random() < 0.3:
            days = None
        else:
            k = int(rng.integers(1, 8))
            days = sorted(int(d) for d in rng.choice(7, size=k, replace=False))
        r = rng.random()
        if r < 0.15 and days is not None:
            clauses.append((days, "closed", []))
        elif r < 0.2:
            clauses.append((days, "always", []))
        else:
            step = int(rng.choice([1, 5, 15, 30, 60]))
            ranges = []
            for _ in range(int(rng.integers(1, 4))):
                s = int(rng.integers(0, 1440 // step)) * step
                e = int(rng.integers(0, 1440 // step + 1)) * step
                ranges.append((s, e))
            clauses.append((days, "ranges", ranges))
    # render
    parts = []
    for days, kind, ranges in clauses:
        head = "" if days is None else _render_days(days, rng, english)
        if kind == "closed":
            body = str(rng.choice(["off", "closed"])) if english else str(rng.choice(["休息", "闭站", "不开放"]))
        elif kind == "always":
            body = "00:00-24:00" if english else str(rng.choice(["24小时", "全天", "00:00-24:00"]))
        else:
            sep = "," if english else str(rng.choice([",", "，", "、", "/"]))
            body = sep.join(f"{_render_time(s, rng)}-{_render_time(e, rng)}" for s, e in ranges)
        space = " " if english or rng.random() < 0.7 else ""
        parts.append(f"{head}{space}{body}".strip())
    text = parts[0]
    for (days, _, _), part in zip(clauses[1:], parts[1:]):
        if days is not None and not english and rng.random() < 0.3:
            text += str(rng.choice(["，", " ", ","]))  # a new day expression starts a clause by itself
        else:
            text += str(rng.choice(["; ", ";", "；", "\n"])) if not english else "; "
        text += part
    if not english and rng.random() < 0.2:
        text = text.translate(_FULLWIDTH)
    if rng.random() < 0.1:
        text += "；节假日休息" if not english else "; PH off"
    # oracle: clauses apply in order, each replacing the hours of the days it names
    schedule: dict[int, list[tuple[int, int]]] = {}
    gives_hours = any(kind != "closed" for _, kind, _ in clauses)
    for days, kind, ranges in clauses:
        value = [] if kind == "closed" else [(0, 1440)] if kind == "always" else ranges
        for d in days if days is not None else range(7):
            schedule[d] = value
    open_set: set[tuple[int, int]] = set()
    for d in range(7):
        for s, e in schedule.get(d, [] if gives_hours else [(0, 1440)]):
            length = e - s if e > s else e - s + 1440
            for k in range(length):
                t = (d * 1440 + s + k) % MINUTES_PER_WEEK
                open_set.add((t // 1440, t % 1440))
    return text, open_set


def test_random_specs_against_oracle() -> None:
    rng = np.random.default_rng(20240601)
    specs = [_random_spec(rng) for _ in range(200)]
    texts = [t for t, _ in specs]
    parsed = [OpeningHours.parse(t) for t in texts]
    for (text, oracle), oh in zip(specs, parsed):
        expected = np.zeros((7, 1440), dtype=bool)
        for d, m in oracle:
            expected[d, m] = True
        assert np.array_equal(oh.bitmap, expected), text
        assert oh.open_minutes_per_week() == len(oracle), text
        # is_open at every boundary of every run, and at random minutes
        probes = set(map(tuple, rng.integers([0, 0], [7, 1440], size=(40, 2)).tolist()))
        for s, e in oh.intervals:
            for t in (s - 1, s, e - 1, e):
                t %= MINUTES_PER_WEEK
                probes.add((t // 1440, t % 1440))
        for d, m in probes:
            assert oh.is_open(d, m) == ((d, m) in oracle), (text, d, m)
        # canonical form is stable and means the same
        again = OpeningHours.parse(oh.canonical)
        assert again == oh and again.canonical == oh.canonical, text
    # vectorised mask equals per-station evaluation; duplicates and missing values mixed in
    column = pd.Series(texts + texts[:50] + [None, ""])
    times = [(int(d), int(m)) for d, m in rng.integers([0, 0], [7, 1440], size=(30, 2))]
    times += [(MON, 0), (SUN, 1439), (MON, 360), (SUN, 1320)]
    for d, m in times:
        mask = open_mask(column, weekday=d, minute=m)
        per_station = [OpeningHours.parse(t).is_open(d, m) for t in column]
        assert mask.tolist() == per_station, (d, m)
        oracle_values = [(d, m) in specs[i % 200][1] for i in range(250)]
        assert mask[:250].tolist() == oracle_values
    hours_matrix = open_hour_matrix(column, weekday=FRI)
    per_hour = np.array([[OpeningHours.parse(t).is_open(FRI, h * 60 + 30) for h in range(24)] for t in column])
    assert np.array_equal(hours_matrix, per_hour)
