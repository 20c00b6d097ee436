"""Opening hours of stations: parse, normalise and evaluate, one station or thousands at once.

Accepted text (Chinese first; full-width punctuation ``：；，、～－—`` and spaces are tolerated)::

    08:00-20:00            8:00-20:00   8点-20点半   上午8:00-12:00，下午2:00-6:00
    24h  24小时  全天  7×24小时  00:00-24:00  24/7
    08:00-12:00,14:00-20:00            (ranges separated by , ， 、 /)
    22:00-06:00                        (overnight, see below)
    周一至周五 08:00-20:00；周六 09:00-12:00   周一-周五 …   星期一到星期五 …   周一至五 …
    工作日 08:00-18:00；周末 10:00-16:00   每天 07:00-21:00   周一、三、五 08:00-12:00
    周日休息  周日闭站  周六日不开放  节假日休息
    Mo-Fr 08:00-20:00; Sa 09:00-12:00; Su off

Semantics, precisely:

- A week is 7 × 1440 minutes, weekday 0 = Monday … 6 = Sunday, minute 0 … 1439 (local time of
  the station, i.e. China Standard Time; no time-zone conversion is ever done).
- A range ``a-b`` opens at minute ``a`` (inclusive) and closes at minute ``b`` (exclusive);
  ``24:00`` is allowed only as an end.  When ``b <= a`` the range is *overnight*: it runs from
  ``a`` on its day to ``b`` on the next day; Sunday's overnight range runs into Monday morning of
  the (same, cyclic) week.  ``a-a`` (e.g. ``06:00-06:00``) means 24 hours from ``a``.
- Segments are separated by ``;``/``；``/new line, or simply start at a new day expression.  They
  are applied in order, and each one *replaces* the hours of the days it names (the
  OpenStreetMap rule): ``每天 07:00-21:00；周六 09:00-12:00`` gives Saturday 09-12 only.  A segment
  without days (a bare range) names every day.  A closed segment (``周日休息``, ``Su off``) sets its
  days to closed.  Overnight spill from the previous day is kept even if that day is closed.
- When at least one segment gives hours, days that no segment names are closed.  A text made only
  of closures (``周日休息``) leaves the other days open around the clock.
- Holiday clauses (``节假日休息``, ``法定节假日照常``, ``PH off``) are accepted and ignored: there is
  no holiday calendar.  They are listed in :attr:`OpeningHours.ignored` and not kept in
  :attr:`OpeningHours.canonical`.
- Empty text, None, NaN and placeholders such as ``未知``/``不详``/``-`` mean *unknown*.  Unknown
  hours are never used to exclude a station: :meth:`OpeningHours.is_open` and :func:`open_mask`
  report them open unless ``unknown_open=False`` is passed.

Why hand-written: the ``opening_hours`` libraries (JavaScript, the Python ``humanized_opening_hours``)
read only the OpenStreetMap syntax; station lists in China are written in Chinese.
"""

from __future__ import annotations

import functools
import operator
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
#: The weekday used when a caller passes ``weekday=None``: Monday, a typical working day.
DEFAULT_WEEKDAY = 0

WEEKDAY_NAMES_ZH: tuple[str, ...] = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEKDAY_NAMES_OSM: tuple[str, ...] = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")

#: Texts that mean "hours unknown" (compared after normalisation and lower-casing).
UNKNOWN_TEXTS: frozenset[str] = frozenset(
    {"", "未知", "不详", "暂无", "待定", "无", "-", "--", "/", "?", "unknown", "n/a", "na", "nan", "none"}
)


class HoursError(ValueError):
    """An opening-hours text could not be parsed; the message is Chinese, then English.

    ``text`` is the offending string, ``zh``/``en`` the reason; when several strings of a
    column failed, ``problems`` holds one error per distinct string (else just this one).
    """

    def __init__(self, text: str, zh: str, en: str) -> None:
        self.text = text
        self.zh = zh
        self.en = en
        self.problems: list[HoursError] = [self]
        super().__init__(f"无法解析开放时间 \"{text}\"：{zh} / cannot parse opening hours \"{text}\": {en}")

    @classmethod
    def many(cls, problems: list[HoursError], *, limit: int = 20) -> HoursError:
        """One error reporting every failed string (the first ``limit`` spelled out)."""
        if len(problems) == 1:
            return problems[0]
        more_zh = f"……另有 {len(problems) - limit} 条" if len(problems) > limit else ""
        more_en = f" … {len(problems) - limit} more" if len(problems) > limit else ""
        zh = "；".join(f"\"{p.text}\"（{p.zh}）" for p in problems[:limit]) + more_zh
        en = "; ".join(f"\"{p.text}\" ({p.en})" for p in problems[:limit]) + more_en
        exc = cls(problems[0].text, zh, en)
        exc.problems = list(problems)
        ValueError.__init__(exc, f"无法解析 {len(problems)} 条开放时间：{zh} / cannot parse "
                                 f"{len(problems)} opening-hours strings: {en}")
        return exc

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------------------------
# Tokeniser
# --------------------------------------------------------------------------------------------

_DASHES = "~〜～—–―－‒"
_DASH_TABLE = str.maketrans({c: "-" for c in _DASHES})

_TIME = r"\d{1,2}(?::\d{2}|[点时](?:\d{1,2}分?|半)?)?"
_TIME_PARTS = re.compile(r"(\d{1,2})(?::(\d{2})|[点时](?:(\d{1,2})分?|(半))?)?")
_Fail = Callable[[str, str], NoReturn]
_ZH_DAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_ZH_NUM = {0: "一", 1: "二", 2: "三", 3: "四", 4: "五", 5: "六", 6: "日"}
_EN_DAY = {"mo": 0, "tu": 1, "we": 2, "th": 3, "fr": 4, "sa": 5, "su": 6}
_DAYSETS = {
    "工作日": (0, 1, 2, 3, 4), "weekday": (0, 1, 2, 3, 4), "weekdays": (0, 1, 2, 3, 4),
    "周末": (5, 6), "双休日": (5, 6), "weekend": (5, 6), "weekends": (5, 6),
}
_ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)

_TOKEN = re.compile(
    "|".join(
        [
            r"(?P<semi>[;\n\r。])",
            r"(?P<soft>[,/、()\[\]{}|]|\s+|和|及|与|以及)",
            r"(?P<always>7\s*[x×*]\s*24\s*(?:小时|h(?:ours?|rs?)?(?![a-z]))?|24\s*[x×*]\s*7"
            r"|24\s*/\s*7|24\s*(?:小时|h(?:ours?|rs?)?(?![a-z]))|全天候|全天)",
            rf"(?P<range>(?P<t1>{_TIME})\s*[-至到]\s*(?P<t2>{_TIME}))",
            rf"(?P<lone>{_TIME}\s*[-至到]?)",
            r"(?P<holiday>法定节假日|节假日|法定假日|节日|假日|假期|ph(?![a-z])|public\s+holidays?(?![a-z]))",
            r"(?P<filler>全年无休|无休息|无休|开放时间|营业时间|服务时间|工作时间|时间|对外开放|开放|营业|开门"
            r"|服务|照常|正常|均为|均|为|:|每(?=周|星期|礼拜)|open(?![a-z])|中午)",
            r"(?P<period>上午|早上|早晨|凌晨|下午|晚上|夜间)",
            r"(?P<closed>暂停开放|暂停营业|暂停服务|停止开放|不开放|不营业|休息|闭站|闭馆|关闭|歇业|停业|除外|休"
            r"|off(?![a-z])|closed?(?![a-z]))",
            r"(?P<dayset>工作日|周末|双休日|每天|每日|天天|全周|全年|daily|every\s*day|weekdays?|weekends?)"
            r"(?![a-z])",
            r"(?P<daypfx>(?:周|星期|礼拜)(?P<dchars>[一二三四五六日天]*)(?P<dbad>[七八九十〇零]?))",
            r"(?P<enday>monday|mon|mo|tuesday|tues|tue|tu|wednesday|wed|we|thursday|thurs|thur|thu|th"
            r"|friday|fri|fr|saturday|sat|sa|sunday|sun|su)(?![a-z])",
            r"(?P<bareday>[一二三四五六日天])",
            r"(?P<dash>[-至到])",
        ]
    )
)
_WORD = re.compile(r"[^\s;,/、()\[\]{}|。]+")
_HOLIDAY_NOTE = re.compile(r"\([^()]*(?:节假日|法定假日|节日|假日|假期|ph|holiday)[^()]*\)")
_PM_PERIODS = frozenset({"下午", "晚上", "夜间"})


@dataclass
class _Segment:
    """One clause while parsing: the days it names and what it says about them."""

    day_items: list[Any] = field(default_factory=list)  # ints, tuples (day sets), "-" markers
    holiday: bool = False
    ranges: list[tuple[int, int]] = field(default_factory=list)
    always: bool = False
    closed: bool = False
    start: int = 0
    end: int = 0

    @property
    def has_content(self) -> bool:
        return bool(self.ranges) or self.always or self.closed

    @property
    def is_empty(self) -> bool:
        return not (self.day_items or self.holiday or self.has_content)


def _normalise(text: str) -> str:
    """NFKC (full-width to ASCII), unify dash variants to ``-``, lower-case, strip."""
    return unicodedata.normalize("NFKC", text).translate(_DASH_TABLE).lower().strip()


def _time_to_minutes(token: str, *, pm: bool, fail: _Fail) -> int:
    m = _TIME_PARTS.fullmatch(token)
    if m is None:  # pragma: no cover - the tokeniser only passes matching text
        fail(f"无效的时间 \"{token}\"", f"invalid time \"{token}\"")
    hour = int(m.group(1))
    minute = 30 if m.group(4) else int(m.group(2) or m.group(3) or 0)
    if pm and 1 <= hour < 12:
        hour += 12
    if hour > 24 or minute > 59 or (hour == 24 and minute != 0):
        fail(f"无效的时间 \"{token}\"（小时 0–24，分钟 0–59）",
             f"invalid time \"{token}\" (hour 0-24, minute 0-59)")
    return hour * 60 + minute


def _tokenise(norm: str, fail: _Fail) -> list[tuple[str, Any, int, int]]:
    """Split normalised text into (kind, value, start, end) tokens; unknown words fail."""
    tokens: list[tuple[str, Any, int, int]] = []
    pos = 0
    pm = False
    while pos < len(norm):
        m = _TOKEN.match(norm, pos)
        if m is None or m.end() == pos:
            word = _WORD.match(norm, pos)
            bad = word.group(0) if word else norm[pos]
            fail(f"无法识别 \"{bad}\"", f"unrecognised \"{bad}\"")
        kind = m.lastgroup  # nested groups close before their outer group, so this is the outer name
        text = m.group(0)
        if kind == "soft":
            pass
        elif kind == "period":
            pm = text in _PM_PERIODS
        elif kind == "range":
            start = _time_to_minutes(m.group("t1"), pm=pm, fail=fail)
            end = _time_to_minutes(m.group("t2"), pm=pm, fail=fail)
            if start >= MINUTES_PER_DAY:
                fail(f"开始时间不能是 24:00（\"{text}\"）", f"a range cannot start at 24:00 (\"{text}\")")
            tokens.append(("range", (start, end), m.start(), m.end()))
        elif kind == "lone":
            fail(f"时间段不完整 \"{text.strip()}\"，应为 开始-结束，如 08:00-20:00",
                 f"incomplete time range \"{text.strip()}\"; expected start-end such as 08:00-20:00")
        elif kind == "daypfx":
            chars = m.group("dchars")
            if not chars or m.group("dbad"):
                shown = text if chars or m.group("dbad") else norm[m.start():m.end() + 1].strip()
                fail(f"无效的星期 \"{shown}\"", f"invalid weekday \"{shown}\"")
            for c in chars:
                tokens.append(("day", _ZH_DAY[c], m.start(), m.end()))
        elif kind == "enday":
            tokens.append(("day", _EN_DAY[text[:2]], m.start(), m.end()))
        elif kind == "bareday":
            tokens.append(("bareday", _ZH_DAY[text], m.start(), m.end()))
        elif kind == "dayset":
            key = re.sub(r"\s+", "", text)
            tokens.append(("dayset", _DAYSETS.get(key, _ALL_DAYS), m.start(), m.end()))
        else:  # semi, always, holiday, filler, closed, dash
            tokens.append((kind, text, m.start(), m.end()))
        if kind in ("semi", "daypfx", "enday", "dayset", "holiday"):
            pm = False  # 上午/下午 applies to the ranges that follow it in the same clause
        pos = m.end()
    return tokens


def _segments(tokens: list[tuple[str, Any, int, int]], fail: _Fail) -> list[_Segment]:
    """Group tokens into clauses: a new clause starts at ``;`` or at days following hours."""
    segs: list[_Segment] = [_Segment()]
    for kind, value, start, end in tokens:
        seg = segs[-1]
        if kind == "semi":
            segs.append(_Segment(start=end))
            continue
        if kind in ("day", "bareday", "dayset", "holiday", "dash") and seg.has_content:
            if kind in ("bareday", "dash"):
                fail("星期写法有误", "misplaced weekday or dash")
            seg = _Segment(start=start)
            segs.append(seg)
        if seg.is_empty:
            seg.start = start
        seg.end = end
        if kind == "day" or kind == "dayset":
            seg.day_items.append(value)
        elif kind == "bareday":
            if not seg.day_items:
                fail(f"无法识别 \"{_ZH_NUM[value]}\"（星期应写作 周{_ZH_NUM[value]}）",
                     f"unrecognised \"{_ZH_NUM[value]}\" (write the weekday as 周{_ZH_NUM[value]})")
            seg.day_items.append(value)
        elif kind == "dash":
            if not seg.day_items or seg.day_items[-1] == "-":
                fail(f"\"{value}\" 前缺少星期或时间", f"\"{value}\" without a weekday or time before it")
            seg.day_items.append("-")
        elif kind == "holiday":
            seg.holiday = True
        elif kind == "range":
            seg.ranges.append(value)
        elif kind == "always":
            seg.always = True
        elif kind == "closed":
            seg.closed = True
    return [s for s in segs if not s.is_empty]



def _expand_days(items: list[Any], fail: _Fail) -> set[int]:
    """Days named by a clause's day items (single days, day sets and ``-`` ranges, which wrap)."""
    days: set[int] = set()
    i = 0
    while i < len(items):
        item = items[i]
        if item == "-":  # pragma: no cover - guarded by _segments
            fail("\"-\" 前缺少星期", "\"-\" without a weekday before it")
        if i + 1 < len(items) and items[i + 1] == "-":
            if i + 2 >= len(items) or not isinstance(items[i + 2], int) or not isinstance(item, int):
                fail("星期范围不完整", "incomplete weekday range")
            first, last = item, items[i + 2]
            d = first
            while True:
                days.add(d)
                if d == last:
                    break
                d = (d + 1) % 7
            i += 3
        elif isinstance(item, tuple):
            days.update(item)
            i += 1
        else:
            days.add(item)
            i += 1
    return days


# --------------------------------------------------------------------------------------------
# The result object
# --------------------------------------------------------------------------------------------


def _fmt(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _fmt_end(end: int) -> str:
    """End of a range on its start day's clock: ``24:00``, or the next morning's time when overnight."""
    return "24:00" if end == MINUTES_PER_DAY else _fmt(end % MINUTES_PER_DAY)


def _day_list_zh(days: list[int]) -> str:
    """``[0,1,2,3,4]`` -> ``周一至周五``; ``[5,6]`` -> ``周六、周日``; ``[0,2,4]`` -> ``周一、周三、周五``."""
    runs: list[list[int]] = []
    for d in days:
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{WEEKDAY_NAMES_ZH[run[0]]}至{WEEKDAY_NAMES_ZH[run[-1]]}")
        else:
            parts.extend(WEEKDAY_NAMES_ZH[d] for d in run)
    return "、".join(parts)


def _runs(bitmap: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Maximal open runs of a weekly bitmap as (start, length), cyclic across Sunday->Monday."""
    if bitmap.all():
        return [(0, MINUTES_PER_WEEK)]
    if not bitmap.any():
        return []
    shift = int(np.flatnonzero(~bitmap)[0])  # start scanning at a closed minute
    rolled = np.roll(bitmap, -shift).astype(np.int8)
    edges = np.diff(np.concatenate(([0], rolled, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int((s + shift) % MINUTES_PER_WEEK), int(e - s)) for s, e in zip(starts, ends)]


def _canonical(bitmap: NDArray[np.bool_]) -> str:
    """Normal form of a weekly bitmap: equal bitmaps give equal strings, and it parses back."""
    runs = _runs(bitmap)
    if runs == [(0, MINUTES_PER_WEEK)]:
        return "24h"
    if not runs:
        return "休息"
    per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for start, length in runs:
        day, s = divmod(start, MINUTES_PER_DAY)
        if length <= MINUTES_PER_DAY:  # one range on its start day, overnight if it passes 24:00
            per_day[day].append((s, s + length))
            continue
        remaining = length
        while remaining > 0:  # longer than a day: split at midnights
            piece = min(remaining, MINUTES_PER_DAY - s)
            per_day[day].append((s, s + piece))
            remaining -= piece
            day, s = (day + 1) % 7, 0
    keys = [",".join(f"{_fmt(s)}-{_fmt_end(e)}" for s, e in sorted(ranges)) for ranges in per_day]
    if len(set(keys)) == 1:
        return keys[0]
    groups: dict[str, list[int]] = {}
    for d, key in enumerate(keys):
        if key:
            groups.setdefault(key, []).append(d)
    return "；".join(f"{_day_list_zh(days)} {key}" for key, days in groups.items())


@dataclass(frozen=True)
class OpeningHours:
    """Parsed opening hours of one station (see the module docstring for the exact semantics).

    ``intervals`` are half-open ``[start, end)`` minute-of-week intervals, Monday 00:00 = 0,
    sorted and disjoint; a run across Sunday->Monday is split at the week boundary.
    ``canonical`` is a normal form (e.g. ``周一至周五 08:00-20:00；周六 09:00-12:00`` or ``24h``):
    two texts meaning the same hours have the same canonical string, and it parses back to
    equal hours.  Unknown hours have ``is_unknown=True``, ``canonical == ""`` and no intervals.
    """

    canonical: str
    intervals: tuple[tuple[int, int], ...]
    is_unknown: bool = False
    text: str = field(default="", compare=False)
    ignored: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, text: str | None) -> OpeningHours:
        """Parse an opening-hours text; raise :class:`HoursError` (bilingual) when it cannot."""
        if not isinstance(text, str):
            if text is None or (np.ndim(text) == 0 and pd.isna(text)):
                return cls.unknown()
            raise TypeError(f"开放时间应为字符串 / opening hours must be a string, got {type(text).__name__}")
        return _parse_cached(text)

    @classmethod
    def unknown(cls, text: str = "") -> OpeningHours:
        """Hours that nobody recorded."""
        return cls(canonical="", intervals=(), is_unknown=True, text=text)

    @classmethod
    def from_bitmap(cls, bitmap: ArrayLike, *, text: str = "") -> OpeningHours:
        """Hours from a ``(7, 1440)`` or ``(10080,)`` bool array (True = open)."""
        flat = np.asarray(bitmap, dtype=bool).reshape(MINUTES_PER_WEEK)
        ivs = []
        padded = np.concatenate(([False], flat, [False])).astype(np.int8)
        edges = np.diff(padded)
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            ivs.append((int(s), int(e)))
        return cls(canonical=_canonical(flat), intervals=tuple(ivs), text=text)

    @functools.cached_property
    def bitmap(self) -> NDArray[np.bool_]:
        """Read-only ``(7, 1440)`` bool array, True where open (all True when unknown)."""
        flat = np.zeros(MINUTES_PER_WEEK, dtype=bool)
        if self.is_unknown:
            flat[:] = True
        for s, e in self.intervals:
            flat[s:e] = True
        out = flat.reshape(7, MINUTES_PER_DAY)
        out.flags.writeable = False
        return out

    @property
    def always_open(self) -> bool:
        """True for round-the-clock hours (``24h``); False when unknown."""
        return self.intervals == ((0, MINUTES_PER_WEEK),)

    def is_open(self, weekday: int, minute: int, *, unknown_open: bool = True) -> bool:
        """Open on ``weekday`` (0 = Monday … 6 = Sunday) at ``minute`` (0 … 1439 after midnight)?"""
        w, m = _check_when(weekday, minute)
        if self.is_unknown:
            return unknown_open
        return bool(self.bitmap[w, m])

    def is_open_at(self, dt: datetime, *, unknown_open: bool = True) -> bool:
        """Open at ``dt``, read as the station's local wall time (no time-zone conversion)."""
        return self.is_open(dt.weekday(), dt.hour * 60 + dt.minute, unknown_open=unknown_open)

    def open_minutes_per_week(self, *, unknown_open: bool = True) -> int:
        """Minutes open per week (10080 = always); unknown counts as 10080, or 0 if not ``unknown_open``."""
        if self.is_unknown:
            return MINUTES_PER_WEEK if unknown_open else 0
        return sum(e - s for s, e in self.intervals)

    def __str__(self) -> str:
        return self.canonical


def _check_when(weekday: int, minute: int) -> tuple[int, int]:
    w, m = operator.index(weekday), operator.index(minute)
    if not 0 <= w <= 6:
        raise ValueError(
            f"星期应为 0（周一）到 6（周日），得到 {w} / weekday must be 0 (Monday) to 6 (Sunday), got {w}"
        )
    if not 0 <= m < MINUTES_PER_DAY:
        raise ValueError(f"分钟应为 0 到 1439，得到 {m} / minute must be 0 to 1439, got {m}")
    return w, m


@functools.lru_cache(maxsize=8192)
def _parse_cached(text: str) -> OpeningHours:
    norm = _normalise(text)
    if norm in UNKNOWN_TEXTS:
        return OpeningHours.unknown(text)

    def fail(zh: str, en: str) -> NoReturn:
        raise HoursError(text, zh, en)

    ignored: list[str] = []

    def drop_note(m: re.Match[str]) -> str:
        ignored.append(m.group(0))
        return " "

    norm = _HOLIDAY_NOTE.sub(drop_note, norm)  # "(节假日除外)" and the like
    segments = _segments(_tokenise(norm, fail), fail)
    schedule: list[list[tuple[int, int]] | None] = [None] * 7
    gives_hours = False
    for seg in segments:
        snippet = norm[seg.start:seg.end].strip()
        if seg.closed and (seg.ranges or seg.always):
            fail(f"\"{snippet}\" 同时写了时间和休息", f"\"{snippet}\" gives both hours and closed")
        days = _expand_days(seg.day_items, fail) if seg.day_items else None
        if seg.holiday and not days:
            ignored.append(snippet)  # holidays: no calendar, accepted and ignored
            continue
        if not seg.has_content:
            fail(f"\"{snippet}\" 缺少开放时间", f"\"{snippet}\" has no hours")
        if seg.always:
            ranges = [(0, MINUTES_PER_DAY)]
        elif seg.closed:
            ranges = []
        else:
            ranges = list(seg.ranges)
            gives_hours = True
        if seg.always:
            gives_hours = True
        for d in days if days is not None else _ALL_DAYS:
            schedule[d] = ranges
    if not gives_hours and all(s is None for s in schedule):
        if ignored:
            return OpeningHours(canonical="", intervals=(), is_unknown=True, text=text, ignored=tuple(ignored))
        fail("没有找到开放时间", "no hours found")
    default = [] if gives_hours else [(0, MINUTES_PER_DAY)]
    flat = np.zeros(MINUTES_PER_WEEK, dtype=bool)
    for d, ranges in enumerate(schedule):
        for s, e in ranges if ranges is not None else default:
            if e <= s:  # overnight (or 24 hours from s when e == s)
                e += MINUTES_PER_DAY
            idx = (np.arange(s, e) + d * MINUTES_PER_DAY) % MINUTES_PER_WEEK
            flat[idx] = True
    result = OpeningHours.from_bitmap(flat, text=text)
    return OpeningHours(canonical=result.canonical, intervals=result.intervals, text=text,
                        ignored=tuple(ignored))


# --------------------------------------------------------------------------------------------
# Public helpers
# --------------------------------------------------------------------------------------------


def validate_hours(text: str | None) -> str | None:
    """The bilingual error message for ``text``, or None when it parses (unknown is valid)."""
    try:
        OpeningHours.parse(text)
    except HoursError as exc:
        return str(exc)
    return None


def parse_time_of_day(text: str) -> int:
    """Minutes after midnight for ``HH:MM`` or ``H:MM`` (e.g. ``--open-at 8:30`` -> 510)."""
    norm = unicodedata.normalize("NFKC", str(text)).strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", norm)
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(
            f"无效的时刻 \"{text}\"，应为 HH:MM（00:00–23:59） / invalid time of day \"{text}\"; "
            "expected HH:MM (00:00-23:59)"
        )
    return int(m.group(1)) * 60 + int(m.group(2))


def _factorised(hours: Sequence[str | None] | pd.Series) -> tuple[NDArray[np.intp], list[OpeningHours]]:
    """Codes (-1 for missing) and the parsed distinct strings; every bad string is reported at once."""
    values = pd.Series(hours.to_numpy(dtype=object) if isinstance(hours, pd.Series) else list(hours),
                       dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    parsed: list[OpeningHours] = []
    problems: list[HoursError] = []
    for u in uniques:
        try:
            parsed.append(OpeningHours.parse(u if isinstance(u, str) else str(u)))
        except HoursError as exc:
            problems.append(exc)
            parsed.append(OpeningHours.unknown())
    if problems:
        raise HoursError.many(problems)
    return codes, parsed


def open_mask(
    hours: Sequence[str | None] | pd.Series,
    *,
    minute: int,
    weekday: int | None = None,
    unknown_open: bool = True,
) -> NDArray[np.bool_]:
    """Which stations are open on ``weekday`` at ``minute`` after midnight, as a bool array.

    Each distinct string is parsed once (``pandas.factorize``).  ``weekday=None`` means Monday
    (:data:`DEFAULT_WEEKDAY`, a typical working day).  Missing or unknown hours count as open
    unless ``unknown_open=False``.  Raises :class:`HoursError` listing every unparseable string.
    """
    w, m = _check_when(DEFAULT_WEEKDAY if weekday is None else weekday, minute)
    codes, parsed = _factorised(hours)
    per_unique = np.array([unknown_open if oh.is_unknown else bool(oh.bitmap[w, m]) for oh in parsed]
                          + [unknown_open], dtype=bool)  # last slot serves code -1 (missing)
    return per_unique[codes]


def open_hour_matrix(
    hours: Sequence[str | None] | pd.Series,
    *,
    weekday: int | None = None,
    unknown_open: bool = True,
) -> NDArray[np.bool_]:
    """``(n, 24)`` bool array: station i counts as open in hour h if open at h:30 that day.

    ``weekday=None`` means Monday; unknown hours are open in every hour unless ``unknown_open=False``.
    """
    w, _ = _check_when(DEFAULT_WEEKDAY if weekday is None else weekday, 0)
    codes, parsed = _factorised(hours)
    rows = [np.full(24, unknown_open) if oh.is_unknown else oh.bitmap[w, 30::60] for oh in parsed]
    table = np.vstack(rows + [np.full(24, unknown_open)]).astype(bool)
    return table[codes]


__all__ = [
    "DEFAULT_WEEKDAY",
    "HoursError",
    "MINUTES_PER_DAY",
    "MINUTES_PER_WEEK",
    "OpeningHours",
    "open_hour_matrix",
    "open_mask",
    "parse_time_of_day",
    "validate_hours",
]
