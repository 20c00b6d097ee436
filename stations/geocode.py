"""Geocoding of stations waiting for a location (待定位) through 高德 (Amap) or 天地图 (Tianditu).

One module: the two provider clients, a per-provider pacer, retry/back-off, an answer cache and
the run loop :func:`geocode_stations`.  No Flask and no database: the caller (the CLI) writes each
:class:`Outcome` to the registry from the ``on_outcome`` callback.  See
``docs/design/issue12-geocoding.md`` for the formats, error codes and sources.

Coordinate systems
------------------
* Amap answers in GCJ-02; every answer is converted with :func:`yizhan.geodata.crs.gcj02_to_wgs84`.
* Tianditu answers in CGCS2000 (EPSG:4490), taken as WGS-84 **without any shift**: the two
  ellipsoids differ by a tenth of a millimetre and the frames by centimetres (growing with plate
  motion, under a metre today) — nothing next to a geocoder's tens of metres.  Applying the GCJ-02
  shift to it would add hundreds of metres of error.

Errors
------
Every failure is a :class:`GeocodeError` with a ``kind`` and ``fatal``: fatal errors (key refused,
quota used up, service unreachable or refusing after retries) stop the run; the others concern
one station, which stays waiting.  Messages are bilingual and never contain the key (requests'
own exceptions carry the full URL: they are redacted and not chained).

Why not geopy: it has no Amap or Tianditu geocoder (the Amap pull request was closed unmerged), and
its ``RateLimiter`` retries with a fixed wait and by default swallows errors into ``None`` — a
quota error would look like "no result".  Why not requests-cache: Amap reports errors in HTTP-200
bodies, which it would cache as answers, and it would write the ``key``/``tk`` parameter to disk
(neither is in its default ``ignored_parameters``).  Our cache stores parsed answers only.
"""

from __future__ import annotations

import json
import math
import random
import re
import sqlite3
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from ..geodata import boundaries, crs
from .model import PRECISION_RANK

__all__ = [
    "PROVIDERS", "Answer", "GeocodeError", "Provider", "AmapProvider", "TiandituProvider", "Pacer",
    "make_provider", "AnswerCache", "query_for", "district_centre", "Outcome", "geocode_stations",
    "AMAP_LEVELS", "TIANDITU_LEVELS", "amap_precision", "tianditu_precision",
]

PROVIDERS: tuple[str, ...] = ("tianditu", "amap")
_PROVIDER_ALIASES = {"amap": "amap", "gaode": "amap", "高德": "amap", "tianditu": "tianditu",
                     "tdt": "tianditu", "天地图": "tianditu"}
#: Precisions a run may require (``--min-precision``); district answers are never accepted.
MIN_PRECISIONS: tuple[str, ...] = ("door", "poi", "road")

# -- level -> precision ----------------------------------------------------------------------------

#: Amap ``level`` (official 地理编码匹配级别列表) -> precision; anything else is ``unknown``.
AMAP_LEVELS: dict[str, str] = {
    **dict.fromkeys(("门牌号", "门址", "单元号", "楼层", "房间"), "door"),
    **dict.fromkeys(("兴趣点", "公交地铁站点", "公交站台", "地铁站", "住宅区"), "poi"),
    **dict.fromkeys(("道路", "道路交叉路口", "小巷"), "road"),
    **dict.fromkeys(("热点商圈", "村庄", "乡镇", "开发区", "区县", "市", "省", "国家"), "district"),
}
#: Tianditu ``level`` -> precision (no list is published: observed values and their obvious kin).
TIANDITU_LEVELS: dict[str, str] = {
    **dict.fromkeys(("门址", "门牌号"), "door"),
    **dict.fromkeys(("地名地址", "兴趣点", "POI", "poi"), "poi"),
    **dict.fromkeys(("道路",), "road"),
    **dict.fromkeys(("行政区划", "行政区", "国家", "省", "省级", "市", "地级市", "区县", "县", "区",
                     "乡镇", "乡", "镇", "街道", "村庄"), "district"),
}


def amap_precision(level: str) -> str:
    """Precision class (door/poi/road/district/unknown) of an Amap ``level``."""
    return AMAP_LEVELS.get(str(level).strip(), "unknown")


def tianditu_precision(level: str) -> str:
    """Precision class (door/poi/road/district/unknown) of a Tianditu ``level``."""
    text = str(level).strip()
    if text in TIANDITU_LEVELS:
        return TIANDITU_LEVELS[text]
    return "district" if text.startswith("行政区") else "unknown"


# -- answers and errors ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """One geocoder answer, already in WGS-84.  ``level`` is the provider's raw level string."""

    lon: float
    lat: float
    precision: str  # door|poi|road|district|unknown
    level: str
    score: float | None
    label: str
    provider: str  # amap|tianditu|boundaries

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Answer:
        score = data.get("score")
        return cls(lon=float(data["lon"]), lat=float(data["lat"]), precision=str(data["precision"]),
                   level=str(data.get("level") or ""), score=None if score is None else float(score),
                   label=str(data.get("label") or ""), provider=str(data["provider"]))


#: kinds that stop the whole run unless said otherwise
_FATAL_KINDS = frozenset({"fatal_key", "fatal_quota", "transport", "retry_exhausted"})


class GeocodeError(Exception):
    """A geocoding failure.  ``kind``: fatal_key, fatal_quota, transport, malformed, bad_request or
    retry_exhausted; ``fatal``: stop the run (True) or only this station (False); ``code``: the
    provider's error code or HTTP status when known.  The message never contains the key."""

    def __init__(self, kind: str, message: str, *, fatal: bool | None = None, code: str = "",
                 provider: str = "", retry: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.fatal = kind in _FATAL_KINDS if fatal is None else bool(fatal)
        self.code = str(code)
        self.provider = provider
        #: internal: how the client may retry before giving up with this error (qps|minute|once)
        self.retry = retry
        #: set by :func:`geocode_stations` on a fatal error: the outcomes decided before it
        self.outcomes: list[Outcome] = []

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


def _redact(text: str, key: str) -> str:
    """``text`` without the key (plain or percent-encoded) and without any ``key=``/``tk=`` value."""
    out = str(text)
    if key:
        for form in {key, urllib.parse.quote(key, safe=""), urllib.parse.quote_plus(key)}:
            out = out.replace(form, "***")
    return re.sub(r"(?i)\b(key|tk)=[^&\s'\")]+", r"\1=***", out)


# -- pacing --------------------------------------------------------------------------------------------

class Pacer:
    """At least ``min_interval`` seconds between the starts of two requests (one per provider).

    ``clock`` and ``sleep`` are injectable so tests never wait."""

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.min_interval = max(0.0, float(min_interval))
        self._clock, self._sleep = clock, sleep
        self._last: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep as needed, then mark the start of a request."""
        with self._lock:
            now = self._clock()
            if self._last is not None:
                gap = self.min_interval - (now - self._last)
                if gap > 0:
                    self._sleep(gap)
                    now = self._clock()
            self._last = now


# -- providers ---------------------------------------------------------------------------------------

class Provider:
    """Base of the provider clients: pacing, HTTP with transport retries, body-level retries.

    Subclasses set ``name``, ``default_base``, ``path``, ``default_interval`` and implement
    :meth:`params` and :meth:`parse`.  ``base_url`` replaces scheme and host (and may carry a path
    prefix); the documented path is appended.
    """

    name = ""
    label_zh = ""
    default_base = ""
    path = ""
    default_interval = 1.0
    #: whether the provider takes Amap's ``city`` restriction (else the query carries the names)
    uses_city = False
    #: attempts for 5xx and connection errors (then ``transport``, fatal) and for read time-outs
    #: (then ``transport``, not fatal: this query may be the slow one)
    transport_tries = 3
    timeout_tries = 2
    #: attempts for QPS/overload refusals (back-off 1, 2, 4, 8 … s, capped) and 10004 minute waits
    qps_tries = 5
    minute_tries = 3
    backoff_base = 1.0
    backoff_cap = 60.0

    def __init__(self, key: str, base_url: str | None = None, *, session: requests.Session | None = None,
                 timeout: float | tuple[float, float] = (5.0, 10.0), min_interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall_clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        key = str(key or "").strip()
        if not key:
            raise ValueError(f"{self.label_zh} Key 为空 / the {self.name} key is empty")
        self._key = key
        self.base_url = (base_url or self.default_base).rstrip("/")
        self.url = self.base_url + self.path
        # our own session, without urllib3 retries: transport retries are ours, so the sleeps go
        # through the injectable ``sleep`` and 5xx is retried like a refused connection
        self.session = session or requests.Session()
        self.timeout = timeout
        self.sleep = sleep
        self.wall_clock = wall_clock
        self.pacer = Pacer(self.default_interval if min_interval is None else min_interval, clock, sleep)
        self._rng = rng or random.Random()
        self.requests_made = 0

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # subclass hooks
    def params(self, query: str, city: str | None) -> dict[str, str]:
        raise NotImplementedError

    def parse(self, status_code: int, body: bytes | str) -> Answer | None:
        """Answer of one HTTP response (None: no result); raises :class:`GeocodeError`."""
        raise NotImplementedError

    # shared machinery
    def _error(self, kind: str, message: str, **kw: Any) -> GeocodeError:
        return GeocodeError(kind, _redact(message, self._key), provider=self.name, **kw)

    def _backoff(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (0-based): 1, 2, 4 … s capped, plus up to 10 % jitter."""
        delay = min(self.backoff_cap, self.backoff_base * 2 ** attempt)
        return delay + self._rng.uniform(0.0, 0.1 * delay)

    def _get(self, params: dict[str, str]) -> tuple[int, bytes]:
        """One paced GET with transport retries; (HTTP status, body) of a non-5xx answer."""
        failures = timeouts = 0
        while True:
            self.pacer.wait()
            self.requests_made += 1
            problem = ""
            try:
                resp = self.session.get(self.url, params=params, timeout=self.timeout)
            except requests.exceptions.ReadTimeout:
                timeouts += 1
                problem = "timeout"
                if timeouts >= self.timeout_tries:
                    raise self._error(
                        "transport",
                        f"{self.label_zh}响应超时（已尝试 {timeouts} 次，读超时 {self._read_timeout()} 秒），本站点保持待定位 / "
                        f"{self.name} did not answer in time ({timeouts} attempts, read timeout "
                        f"{self._read_timeout()} s); this station stays waiting", fatal=False, code="timeout") from None
            except requests.exceptions.RequestException as exc:
                failures += 1
                problem = f"{type(exc).__name__}: {_redact(str(exc), self._key)[:300]}"
            else:
                if resp.status_code < 500:
                    return resp.status_code, resp.content
                failures += 1
                problem = f"HTTP {resp.status_code}"
            if failures >= self.transport_tries:
                raise self._error(
                    "transport",
                    f"{self.label_zh}服务无法访问（{problem}，已尝试 {failures} 次），请稍后重新运行继续 / "
                    f"{self.name} service unreachable ({problem}, {failures} attempts); run again later "
                    "to resume", code=problem.split(":")[0]) from None
            self.sleep(self._backoff(failures + timeouts - 1))

    def _read_timeout(self) -> float:
        return self.timeout[1] if isinstance(self.timeout, tuple) else self.timeout

    def geocode(self, query: str, city: str | None = None) -> Answer | None:
        """Best answer for ``query`` (WGS-84), None when the provider finds nothing.

        Raises :class:`GeocodeError`; QPS refusals, Amap's per-minute block and engine errors are
        retried here first (back-off, wait to the next minute, once)."""
        query = " ".join(str(query or "").split())
        if not query:
            raise self._error("bad_request", "查询文本为空 / empty query", fatal=False)
        params = self.params(query, city if self.uses_city else None)
        qps = minutes = once = 0
        while True:
            status, body = self._get(params)
            try:
                return self.parse(status, body)
            except GeocodeError as err:
                if err.retry == "qps" and qps + 1 < self.qps_tries:
                    self.sleep(self._backoff(qps))
                    qps += 1
                elif err.retry == "minute" and minutes + 1 < self.minute_tries:
                    now = self.wall_clock()
                    self.sleep(60.0 - (now % 60.0) + 1.0)  # one second into the next minute
                    minutes += 1
                elif err.retry == "once" and once < 1:
                    self.sleep(self._backoff(0))
                    once += 1
                else:
                    raise

    # helpers for parse
    def _json(self, status_code: int, body: bytes | str) -> Any:
        try:
            return json.loads(body)
        except (ValueError, TypeError):
            head = body[:60] if isinstance(body, str) else bytes(body[:60]).decode("utf-8", "replace")
            head = " ".join(head.split())
            raise self._error("malformed", f"{self.label_zh}返回的不是完整的 JSON（HTTP {status_code}：{head!r}） / "
                              f"{self.name} answered no complete JSON (HTTP {status_code}: {head!r})",
                              code=str(status_code)) from None

    def _malformed(self, what: str, detail: object = "") -> GeocodeError:
        return self._error("malformed", f"{self.label_zh}的回答无法解析：{what} {detail} / "
                           f"{self.name} answer not understood: {what} {detail}".replace("  ", " "))


def _text(value: object) -> str:
    """A provider string field: Amap sends ``[]`` for absent values."""
    if value is None or isinstance(value, (list, dict)):
        return ""
    return str(value).strip()


def _number(value: object) -> float | None:
    try:
        if isinstance(value, bool):
            return None
        num = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return num if math.isfinite(num) else None


def _lonlat_ok(lon: float | None, lat: float | None) -> bool:
    return lon is not None and lat is not None and -180 <= lon <= 180 and -90 <= lat <= 90


_AMAP_KEY_CODES = frozenset({"10001", "10002", "10005", "10007", "10009", "10010", "10012", "10013",
                             "10026", "10041"})
_AMAP_QUOTA_CODES = frozenset({"10003", "10044"})
_AMAP_QPS_CODES = frozenset({"10014", "10015", "10016", "10019", "10020", "10021"})
_AMAP_BAD_REQUEST = frozenset({"20000", "20001", "20002", "20012"})


class AmapProvider(Provider):
    """高德 Web 服务地理编码 ``GET {base}/v3/geocode/geo`` (key of type Web服务).  Answers GCJ-02 ->
    converted to WGS-84.  Errors come in HTTP-200 bodies (``status "0"`` + ``infocode``)."""

    name = "amap"
    label_zh = "高德"
    default_base = "https://restapi.amap.com"
    path = "/v3/geocode/geo"
    default_interval = 0.4
    uses_city = True

    def params(self, query: str, city: str | None) -> dict[str, str]:
        params = {"key": self._key, "address": query, "output": "JSON"}
        if city:
            params["city"] = str(city)
        return params

    def parse(self, status_code: int, body: bytes | str) -> Answer | None:
        if status_code == 429:  # not documented for Amap (errors come in 200 bodies): treat as QPS
            raise self._classify("", "Too Many Requests", status_code)
        data = self._json(status_code, body)
        if not isinstance(data, dict) or "status" not in data:
            raise self._malformed("缺少 status / no status", f"(HTTP {status_code})")
        status, info, code = _text(data.get("status")), _text(data.get("info")), _text(data.get("infocode"))
        if status != "1":
            raise self._classify(code, info, status_code)
        geocodes = data.get("geocodes")
        if _text(data.get("count")) == "0" or geocodes == []:
            return None
        if not isinstance(geocodes, list) or not isinstance(geocodes[0], dict):
            raise self._malformed("缺少 geocodes / no geocodes")
        first = geocodes[0]
        location = first.get("location")
        parts = location.split(",") if isinstance(location, str) else []
        lon, lat = (_number(parts[0]), _number(parts[1])) if len(parts) == 2 else (None, None)
        if not _lonlat_ok(lon, lat):
            raise self._malformed("location 不是两个数 / location is not two numbers", repr(location))
        wlon, wlat = crs.gcj02_to_wgs84(lon, lat)
        level = _text(first.get("level"))
        return Answer(lon=float(wlon), lat=float(wlat), precision=amap_precision(level), level=level,
                      score=None, label=_text(first.get("formatted_address")), provider=self.name)

    def _classify(self, code: str, info: str, status_code: int) -> GeocodeError:
        what = f"{code} {info}".strip() if code else f"HTTP {status_code} {info}".strip()
        if code in _AMAP_KEY_CODES:
            return self._error("fatal_key", f"高德拒绝了 Key（{what}）：请检查 Key 是否有效、类型为 Web服务、IP 白名单与签名设置 / "
                               f"Amap refused the key ({what}): check that it is valid, of type Web Service "
                               "(Web服务), and the IP whitelist / signature settings", code=code)
        if code in _AMAP_QUOTA_CODES:
            return self._error("fatal_quota", f"高德当日调用量已用完（{what}），次日 00:00 自动恢复，届时重新运行即可继续 / "
                               f"Amap daily quota used up ({what}); it resets at 00:00 (Beijing time), "
                               "run again then to resume", code=code)
        if code == "10004":
            return self._error("retry_exhausted", f"高德持续拒绝（{what}：访问过于频繁），请稍后重新运行继续 / "
                               f"Amap keeps refusing ({what}: too many requests per minute); run again "
                               "later to resume", code=code, retry="minute")
        if code in _AMAP_QPS_CODES or status_code == 429:
            return self._error("retry_exhausted", f"高德多次重试后仍拒绝（{what}：超出并发/QPS 限制），请降低速率或稍后重新运行 / "
                               f"Amap still refuses after retries ({what}: QPS limit exceeded or server "
                               "busy); slow down or run again later", code=code, retry="qps")
        if code in _AMAP_BAD_REQUEST:
            return self._error("bad_request", f"高德拒绝了本条请求（{what}），本站点保持待定位 / "
                               f"Amap rejected this request ({what}); this station stays waiting", code=code)
        if code == "20003" or code.startswith("3"):
            return self._error("malformed", f"高德引擎出错（{what}），本站点保持待定位 / "
                               f"Amap engine error ({what}); this station stays waiting", code=code, retry="once")
        return self._error("malformed", f"高德返回未知错误（{what}），本站点保持待定位 / "
                           f"Amap answered an unknown error ({what}); this station stays waiting", code=code)


_TDT_KEY_CODES = frozenset({1, 7, 12, 301012})


class TiandituProvider(Provider):
    """天地图地理编码 ``GET {base}/geocoder?ds={"keyWord":…}&tk=KEY`` (a 服务端 key).  Answers
    CGCS2000, used as WGS-84 unchanged (centimetres to under a metre).  No ``city`` parameter:
    the query carries the province/city/district names."""

    name = "tianditu"
    label_zh = "天地图"
    default_base = "https://api.tianditu.gov.cn"
    path = "/geocoder"
    default_interval = 1.0
    uses_city = False

    def params(self, query: str, city: str | None) -> dict[str, str]:
        query = query.replace("’", "").replace("&", "")  # "不支持’与&符号"
        return {"ds": json.dumps({"keyWord": query}, ensure_ascii=False), "tk": self._key}

    def parse(self, status_code: int, body: bytes | str) -> Answer | None:
        if status_code in (403, 418, 429):
            raise self._refused(status_code, body)
        if status_code != 200:
            raise self._error("malformed", f"天地图返回 HTTP {status_code}，本站点保持待定位 / "
                              f"Tianditu answered HTTP {status_code}; this station stays waiting",
                              code=str(status_code))
        data = self._json(status_code, body)
        if not isinstance(data, dict) or "status" not in data:
            raise self._malformed("缺少 status / no status")
        status, msg = _text(data.get("status")), _text(data.get("msg"))
        if status == "101" or (status == "404" and (not msg or "无结果" in msg)):
            return None
        if status != "0":
            raise self._error("malformed", f"天地图返回错误（status {status}：{msg}），本站点保持待定位 / "
                              f"Tianditu answered an error (status {status}: {msg}); this station stays waiting",
                              code=status)
        loc = data.get("location")
        if not isinstance(loc, dict):
            raise self._malformed("缺少 location / no location")
        lon, lat = _number(loc.get("lon")), _number(loc.get("lat"))
        if not _lonlat_ok(lon, lat):
            raise self._malformed("lon/lat 不是数 / lon/lat are not numbers",
                                  repr((loc.get("lon"), loc.get("lat"))))
        level = _text(loc.get("level"))
        return Answer(lon=float(lon), lat=float(lat), precision=tianditu_precision(level), level=level,
                      score=_number(loc.get("score")), label=_text(loc.get("keyWord")), provider=self.name)

    def _refused(self, status_code: int, body: bytes | str) -> GeocodeError:
        try:
            data = json.loads(body)
        except (ValueError, TypeError):
            data = None
        data = data if isinstance(data, dict) else {}
        msg, resolve, code = _text(data.get("msg")), _text(data.get("resolve")), data.get("code")
        said = "；".join(t for t in (msg, resolve) if t) or f"HTTP {status_code}"
        detail = f"HTTP {status_code}" + (f", code {code}" if code is not None else "")
        if status_code == 403 and _number(code) is not None and int(_number(code) or 0) in _TDT_KEY_CODES:
            return self._error("fatal_key", f"天地图拒绝了 Key：“{said}”（{detail}），请检查 Key 是否为服务端 Key 及其白名单 / "
                               f"Tianditu refused the key: \"{said}\" ({detail}); check that it is a "
                               "server-side (服务端) key and its whitelist", code=str(code))
        return self._error("fatal_quota", f"天地图使用量超限或被限制：“{said}”（{detail}），稍后重新运行即可继续 / "
                           f"Tianditu: the key's quota is used up or the service blocks it: \"{said}\" "
                           f"({detail}); run again later to resume",
                           code=str(code) if code is not None else str(status_code))


def make_provider(name: str, key: str, base_url: str | None = None, **kw: Any) -> Provider:
    """A provider client by name (``amap``/高德 or ``tianditu``/天地图); ``kw`` go to its constructor."""
    canonical = _PROVIDER_ALIASES.get(str(name or "").strip().lower())
    if canonical is None:
        raise ValueError(f"未知的地理编码服务 {name!r}，应为 {' 或 '.join(PROVIDERS)} / unknown geocoding "
                         f"provider {name!r}; expected one of {', '.join(PROVIDERS)}")
    if not str(key or "").strip():
        raise ValueError(f"缺少 {canonical} 的 Key / no key given for {canonical}")
    cls = AmapProvider if canonical == "amap" else TiandituProvider
    return cls(key, base_url, **kw)


# -- cache ------------------------------------------------------------------------------------------

def _norm_query(query: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", str(query or "")).split())


class AnswerCache:
    """Definitive answers (a result or "no result") in a sqlite3 file, e.g. ``<home>/cache/geocode.sqlite``.

    Keyed by provider, NFKC-normalised whitespace-collapsed query and city.  Stores the parsed
    answer as JSON: never an error, never the key or the raw body, independent of ``base_url``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (provider TEXT NOT NULL, qkey TEXT NOT NULL, city TEXT NOT NULL,"
            " answer_json TEXT, outcome TEXT NOT NULL, fetched_at TEXT NOT NULL,"
            " PRIMARY KEY (provider, qkey, city))")
        self._db.commit()

    def get(self, provider: str, query: str, city: str | None) -> tuple[bool, Answer | None]:
        """(hit, answer); ``(True, None)`` is a cached "no result"."""
        with self._lock:
            row = self._db.execute("SELECT answer_json, outcome FROM answers WHERE provider=? AND qkey=? AND city=?",
                                   (provider, _norm_query(query), city or "")).fetchone()
        if row is None:
            return False, None
        if row[1] != "result" or not row[0]:
            return True, None
        try:
            return True, Answer.from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            return False, None  # unreadable entry: ask again

    def put(self, provider: str, query: str, city: str | None, answer: Answer | None) -> None:
        """Store a definitive answer (None = no result)."""
        payload = None if answer is None else json.dumps(answer.to_dict(), ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                             (provider, _norm_query(query), city or "", payload,
                              "no_result" if answer is None else "result", _now_iso()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- queries ----------------------------------------------------------------------------------------

# a bracketed note about a map POI: (高德 B0FFG…), (中心站 高德 B0J1UG0JK1), (高德:名称 B0KG7HA2PR)
_NOTE_RE = re.compile(r"\s*[(（][^()（）]*(?:高德|百度|腾讯|天地图|amap|\bB0[0-9A-Z]{6,})[^()（）]*[)）]", re.I)
_ADMIN_SUFFIX = re.compile(r"(?:特别行政区|自治区|自治州|自治县|新区|地区|省|市|区|县|州|旗)$")


def _field(station: Mapping[str, object], name: str) -> str:
    value = station.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _mentions(text: str, name: str) -> bool:
    short = _ADMIN_SUFFIX.sub("", name)
    return name in text or (len(short) >= 2 and short in text)


def _admin_names(adcode: str) -> list[str]:
    """Province, city, district names of an adcode, outermost first, without repeats."""
    if not adcode or not boundaries.is_known(adcode):
        return []
    codes = [boundaries.province_of(adcode), boundaries.city_of(adcode), adcode]
    names: list[str] = []
    for code in codes:
        name = boundaries.name_of(code) if code else None
        if name and name not in names:
            names.append(name)
    return names


def _amap_city(adcode: str) -> str | None:
    """City-level adcode for Amap's ``city``: the 地级 city (``adcode[:4] + "00"``).  Amap does not
    support county-level cities, so one directly under its province (仙桃 429004) gives the province."""
    if not re.fullmatch(r"\d{6}", adcode):
        return None
    city = boundaries.city_of(adcode) if boundaries.is_known(adcode) else None
    if city is None:  # a province, or a code our data do not know
        return adcode if adcode.endswith("0000") else adcode[:4] + "00"
    return city if city.endswith("00") else city[:2] + "0000"


def query_for(station: Mapping[str, object]) -> tuple[str, str | None]:
    """(text to send, Amap ``city``) for a station row.

    The text is the address, or the name (without map notes like ``(高德 B0…)``) when the address
    is empty, prefixed with the province/city/district names of ``adcode`` that are not already
    in it (only those above the most specific one it mentions); ``’`` and ``&`` are removed
    (Tianditu refuses them).  ``city`` is the city-level adcode (Amap does not support county-level
    cities), None without an adcode.
    """
    adcode = _field(station, "adcode")
    text = _field(station, "address")
    if not text:
        text = _NOTE_RE.sub("", _field(station, "name"))
    text = " ".join(text.replace("’", "").replace("&", " ").split())
    if not text:
        return "", _amap_city(adcode) if adcode else None
    names = _admin_names(adcode)
    present = [_mentions(text, n) for n in names]
    deepest = max((i for i, p in enumerate(present) if p), default=len(names))
    prefix = "".join(n for n, p in zip(names[:deepest], present[:deepest]) if not p)
    return prefix + text, (_amap_city(adcode) if adcode else None)


_centres: dict[str, tuple[float, float] | None] = {}


def district_centre(adcode: str) -> tuple[float, float] | None:
    """A point inside the unit ``adcode`` (``point_on_surface`` of its polygon, WGS-84); None if unknown."""
    import shapely

    code = str(adcode or "").strip()
    if code not in _centres:
        geom = boundaries.geometry_of(code) if code and boundaries.is_known(code) else None
        if geom is None or geom.is_empty:
            _centres[code] = None
        else:
            pt = shapely.point_on_surface(geom)
            _centres[code] = (float(pt.x), float(pt.y))
    return _centres[code]


# -- the run -----------------------------------------------------------------------------------------

def _now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Outcome:
    """What happened to one station.  ``lon``/``lat`` (WGS-84): the location when located, else
    the candidate's, else None.  ``candidate`` (waiting stations): JSON-serialisable dict or None
    (on an ``error`` it is None: keep whatever the registry had).  ``reason``: why an answer was not
    accepted."""

    id: str
    status: str  # located | waiting
    precision: str
    lon: float | None
    lat: float | None
    provider: str
    candidate: dict | None
    from_cache: bool
    error: str
    label: str = ""
    query: str = ""
    level: str = ""
    score: float | None = None
    reason: str = ""


def _candidate(answer: Answer, query: str) -> dict[str, Any]:
    return {"lon": answer.lon, "lat": answer.lat, "precision": answer.precision, "level": answer.level,
            "score": answer.score, "label": answer.label, "provider": answer.provider, "at": _now_iso(),
            "query": query}


def _rows(stations: pd.DataFrame | Iterable[Mapping[str, object]]) -> list[Mapping[str, object]]:
    if isinstance(stations, pd.DataFrame):
        return stations.to_dict("records")
    return list(stations)


def geocode_stations(stations: pd.DataFrame | Iterable[Mapping[str, object]], provider: Provider, *,
                     min_precision: str = "poi", limit: int | None = None, cache: AnswerCache | None = None,
                     district_tolerance_m: float = 2000.0,
                     on_outcome: Callable[[Outcome], None] | None = None,
                     max_consecutive_timeouts: int = 3) -> list[Outcome]:
    """Geocode waiting stations in the given order; one :class:`Outcome` per station decided.

    A station is located when the answer's precision ranks at least ``min_precision`` (door > poi >
    road), lies within ``district_tolerance_m`` of its ``adcode`` district (not checked without an
    adcode) and in mainland China; otherwise it stays waiting with the answer as candidate.  No
    result: the district centre becomes the candidate (precision ``district``, never located).
    ``limit``: stop before the station that would need request number ``limit + 1`` (cache hits are
    free).  ``on_outcome`` is called right after each decision.  A non-fatal error keeps that station
    waiting (``error`` set); a fatal one is re-raised after the outcomes before it were delivered
    (also in ``err.outcomes``); so are ``max_consecutive_timeouts`` stations in a row timing out.
    """
    if min_precision not in MIN_PRECISIONS:
        raise ValueError(f"最低精度应为 {'、'.join(MIN_PRECISIONS)} 之一，而不是 {min_precision!r} / "
                         f"min_precision must be one of {', '.join(MIN_PRECISIONS)}, not {min_precision!r}")
    need = PRECISION_RANK[min_precision]
    outcomes: list[Outcome] = []
    asked = timeouts = 0

    def deliver(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    for row in _rows(stations):
        sid = _field(row, "id")
        adcode = _field(row, "adcode")
        query, city = query_for(row)
        city = city if provider.uses_city else None
        if not query:
            deliver(Outcome(sid, "waiting", "", None, None, provider.name, None, False,
                            "无地址和名称，无法查询 / no address or name to look up"))
            continue
        hit, answer = cache.get(provider.name, query, city) if cache is not None else (False, None)
        if not hit:
            if limit is not None and asked >= limit:
                break
            asked += 1
            try:
                answer = provider.geocode(query, city)
            except GeocodeError as err:
                timed_out = err.kind == "transport" and err.code == "timeout"
                timeouts = timeouts + 1 if timed_out else 0
                if err.fatal:
                    err.outcomes = list(outcomes)
                    raise
                deliver(Outcome(sid, "waiting", "", None, None, provider.name, None, False, str(err),
                                query=query))
                if timed_out and timeouts >= max_consecutive_timeouts:
                    stop = GeocodeError("transport", f"{provider.label_zh}连续 {timeouts} 个站点超时，服务似乎不可用，"
                                        f"请稍后重新运行继续 / {provider.name} timed out on {timeouts} stations in "
                                        "a row: the service seems unreachable; run again later to resume",
                                        fatal=True, code="timeout", provider=provider.name)
                    stop.outcomes = list(outcomes)
                    raise stop from None
                continue
            timeouts = 0
            if cache is not None:
                cache.put(provider.name, query, city, answer)
        deliver(_decide(sid, adcode, query, answer, hit, need, min_precision, district_tolerance_m, provider))
    return outcomes


def _decide(sid: str, adcode: str, query: str, answer: Answer | None, from_cache: bool, need: int,
            min_precision: str, tolerance_m: float, provider: Provider) -> Outcome:
    """Located or waiting, for one answer."""
    if answer is None:
        centre = district_centre(adcode) if adcode else None
        if centre is None:
            return Outcome(sid, "waiting", "", None, None, provider.name, None, from_cache, "", query=query,
                           reason="无结果 / no result")
        label = "".join(_admin_names(adcode))
        fallback = Answer(centre[0], centre[1], "district", "district_centre", None, label, "boundaries")
        return Outcome(sid, "waiting", "district", centre[0], centre[1], "boundaries", _candidate(fallback, query),
                       from_cache, "", label=label, query=query, level=fallback.level,
                       reason="无结果，候选为行政区中心 / no result; the district centre is the candidate")
    reasons: list[str] = []
    if PRECISION_RANK.get(answer.precision, 0) < need:
        reasons.append(f"精度 {answer.precision}（{answer.level or '-'}）低于 {min_precision} / "
                       f"precision {answer.precision} ({answer.level or '-'}) below {min_precision}")
    if adcode:
        dist = float(boundaries.distance_to_district_m(answer.lon, answer.lat, adcode))
        if not (dist <= tolerance_m):
            shown = "未知" if math.isnan(dist) else f"{dist:.0f} m"
            reasons.append(f"距所填行政区 {adcode} {shown}，超过 {tolerance_m:.0f} m / "
                           f"{'unknown distance' if math.isnan(dist) else f'{dist:.0f} m'} from the stated "
                           f"district {adcode}, more than {tolerance_m:.0f} m")
    if not bool(boundaries.in_mainland_china(answer.lon, answer.lat)):
        reasons.append("不在中国大陆范围内 / outside mainland China")
    status = "waiting" if reasons else "located"
    return Outcome(sid, status, answer.precision, answer.lon, answer.lat, answer.provider,
                   _candidate(answer, query) if reasons else None, from_cache, "", label=answer.label,
                   query=query, level=answer.level, score=answer.score, reason="; ".join(reasons))


def placed_adcode(stated: str, lon: float, lat: float) -> str:
    """The district of a waiting station once located at (lon, lat), WGS-84: a stated district is
    kept (the point was checked against it); a city stated for want of a known district (441900,
    or 440300 for an unknown new area such as 大鹏新区) becomes the district the point lies in when
    that lies inside the city; an empty one is found from the location."""
    from ..geodata.boundaries import area_prefix, district_of, level_of

    stated = str(stated or "")
    if stated and level_of(stated) in (None, "district"):
        return stated
    found = str(district_of([lon], [lat])[0] or "")
    if not stated:
        return found
    try:
        prefix = area_prefix(stated)
    except ValueError:
        return stated
    return found if found and found.startswith(prefix) else stated
