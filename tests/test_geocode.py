"""Geocoding (issue 12): parsing of the recorded provider bodies, error classes against local stub
servers, pacing and back-off with a fake clock, the answer cache and the run loop.  No network;
nothing sleeps for real except the time-out cases (a few tenths of a second)."""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yizhan.geodata import boundaries, crs
from yizhan.geodata.sphere import haversine_m
from yizhan.stations import geocode as gc
from yizhan.stations.geocode import (AmapProvider, Answer, AnswerCache, GeocodeError, Outcome, Pacer,
                                     TiandituProvider, district_centre, geocode_stations, make_provider,
                                     query_for)

from geocode_stubs import (AMAP_CKQPS, AMAP_INVALID_KEY, AMAP_NO_RESULT, AMAP_OK, AMAP_QUOTA, GOOD_KEY,
                            TDT_DOMAIN, TDT_INVALID_KEY, TDT_KEY_TYPE, TDT_NO_RESULT, TDT_OK_ADDRESS,
                            TDT_OK_DOOR, TDT_QUOTA, AmapStub, TiandituStub, amap_geocode, tianditu_location)

# GCJ-02 points as Amap gives them (its district centres of 越秀区 and 禅城区)
YUEXIU_GCJ = (113.280714, 23.125624)
CHANCHENG_GCJ = (113.112414, 23.019643)
# a WGS-84 point in 禅城区 (for Tianditu, which answers without a shift)
CHANCHENG_WGS = (113.106924, 23.022186)
SECRET = "s3cret-KEY-0123456789abcdef"


def wgs(point: tuple[float, float]) -> tuple[float, float]:
    x, y = crs.gcj02_to_wgs84(*point)
    return float(x), float(y)


class FakeTime:
    """Injectable clock and sleep: sleeping only moves the clock and is recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def b(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def no_key(err: BaseException, key: str) -> None:
    """The key appears nowhere: message, args, printed traceback."""
    printed = "".join(traceback.format_exception(err))
    assert key not in str(err) and key not in repr(err.args) and key not in printed


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def amap_stub():
    with AmapStub({"越秀区较场西路": amap_geocode(*YUEXIU_GCJ, "兴趣点", "广东省广州市越秀区较场西路营业厅"),
                   "越秀区中山二路": amap_geocode(*YUEXIU_GCJ, "道路", "广东省广州市越秀区中山二路"),
                   "禅城区岭南": amap_geocode(*CHANCHENG_GCJ, "公交地铁站点", "广东省佛山市禅城区岭南公交枢纽站"),
                   "越秀区错位": amap_geocode(*CHANCHENG_GCJ, "门牌号", "广东省佛山市禅城区某路1号"),
                   "台北": amap_geocode(121.5654, 25.0330, "兴趣点", "台北101")}) as stub:
        yield stub


@pytest.fixture
def tdt_stub():
    with TiandituStub({"禅城区岭南": tianditu_location(*CHANCHENG_WGS, "地名地址", 95),
                       "禅城区朝安": tianditu_location(*CHANCHENG_WGS, "门址", 100)}) as stub:
        yield stub


def amap(stub: AmapStub, fake: FakeTime, key: str = GOOD_KEY, **kw) -> AmapProvider:
    return AmapProvider(key, stub.base_url, timeout=(1, 0.2), clock=fake.clock, sleep=fake.sleep,
                        wall_clock=lambda: fake.now, **kw)


def tianditu(stub: TiandituStub, fake: FakeTime, key: str = GOOD_KEY, **kw) -> TiandituProvider:
    return TiandituProvider(key, stub.base_url, timeout=(1, 0.2), clock=fake.clock, sleep=fake.sleep, **kw)


# -- parsing the recorded bodies --------------------------------------------------------------------

def test_amap_recorded_ok_body_is_converted_to_wgs84() -> None:
    ans = AmapProvider("k").parse(200, b(AMAP_OK))
    assert (ans.lon, ans.lat) == pytest.approx(wgs((116.192951, 40.172759)), abs=1e-9)
    shift = float(haversine_m(ans.lon, ans.lat, 116.192951, 40.172759))
    assert 100 < shift < 1000  # GCJ-02 is hundreds of metres off
    assert (ans.precision, ans.level, ans.score, ans.provider) == ("poi", "兴趣点", None, "amap")
    assert ans.label == "北京市昌平区横桥社区卫生服务站"


def test_amap_absent_fields_are_arrays() -> None:
    body = {"status": "1", "info": "OK", "infocode": "10000", "count": "1",
            "geocodes": [{"formatted_address": [], "location": "113.280714,23.125624", "level": [],
                          "street": [], "number": []}]}
    ans = AmapProvider("k").parse(200, b(body))
    assert (ans.label, ans.level, ans.precision) == ("", "", "unknown")


@pytest.mark.parametrize("body", [AMAP_NO_RESULT, {"status": "1", "info": "OK", "infocode": "10000", "count": "0"}])
def test_amap_no_result(body: dict) -> None:
    assert AmapProvider("k").parse(200, b(body)) is None


@pytest.mark.parametrize("body,kind,fatal,retry", [
    (AMAP_INVALID_KEY, "fatal_key", True, None),
    (AMAP_QUOTA, "fatal_quota", True, None),
    (AMAP_CKQPS, "retry_exhausted", True, "qps"),
    ({"status": "0", "info": "ACCESS_TOO_FREQUENT", "infocode": "10004"}, "retry_exhausted", True, "minute"),
    ({"status": "0", "info": "USERKEY_PLAT_NOMATCH", "infocode": "10009"}, "fatal_key", True, None),
    ({"status": "0", "info": "IP_QUERY_OVER_LIMIT", "infocode": "10010"}, "fatal_key", True, None),
    ({"status": "0", "info": "USER_DAILY_QUERY_OVER_LIMIT", "infocode": "10044"}, "fatal_quota", True, None),
    ({"status": "0", "info": "ILLEGAL_CONTENT", "infocode": "20012"}, "bad_request", False, None),
    ({"status": "0", "info": "UNKNOWN_ERROR", "infocode": "20003"}, "malformed", False, "once"),
    ({"status": "0", "info": "ENGINE_RESPONSE_DATA_ERROR", "infocode": "30001"}, "malformed", False, "once"),
])
def test_amap_error_bodies(body: dict, kind: str, fatal: bool, retry: str | None) -> None:
    with pytest.raises(GeocodeError) as info:
        AmapProvider(SECRET).parse(200, b(body))
    err = info.value
    assert (err.kind, err.fatal, err.retry, err.code) == (kind, fatal, retry, body["infocode"])
    assert body["info"] in str(err) and " / " in str(err)
    no_key(err, SECRET)
    if kind == "fatal_quota":
        assert "00:00" in str(err)


@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b(AMAP_OK)[:40], b"[]", b'{"info": "OK"}',
                                  b('{"status":"1","count":"1","geocodes":[{"level":"\u95e8\u724c\u53f7"}]}'),
                                  b(dict(AMAP_OK, geocodes=[dict(AMAP_OK["geocodes"][0], location="abc")])),
                                  b(dict(AMAP_OK, geocodes=[dict(AMAP_OK["geocodes"][0], location="1,2,3")])),
                                  b(dict(AMAP_OK, geocodes=[dict(AMAP_OK["geocodes"][0], location=[])])),
                                  b(dict(AMAP_OK, geocodes="x"))])
def test_amap_malformed_bodies(body: bytes) -> None:
    with pytest.raises(GeocodeError) as info:
        AmapProvider("k").parse(200, body)
    assert info.value.kind == "malformed" and not info.value.fatal


def test_tianditu_recorded_ok_bodies_unchanged() -> None:
    p = TiandituProvider("k")
    door = p.parse(200, b(TDT_OK_DOOR))
    assert door == Answer(116.290158, 39.894696, "door", "门址", 100.0, "北京市海淀区莲花池西路28号", "tianditu")
    addr = p.parse(200, b(TDT_OK_ADDRESS))
    assert (addr.lon, addr.lat, addr.precision, addr.score) == (121.44344, 31.194107, "poi", 95.0)


@pytest.mark.parametrize("body", [TDT_NO_RESULT, {"msg": "结果为空", "status": "101"}])
def test_tianditu_no_result(body: dict) -> None:
    assert TiandituProvider("k").parse(200, b(body)) is None


@pytest.mark.parametrize("status,body,kind", [
    (403, TDT_INVALID_KEY, "fatal_key"), (403, TDT_DOMAIN, "fatal_key"), (403, TDT_KEY_TYPE, "fatal_key"),
    (403, {"code": 301012, "msg": "权限类型错误", "resolve": "Key权限类型为:浏览器端，请使用浏览器访问！"}, "fatal_key"),
    (403, TDT_QUOTA, "fatal_quota"), (403, None, "fatal_quota"), (418, None, "fatal_quota"),
    (429, None, "fatal_quota"),
])
def test_tianditu_refusals(status: int, body: dict | None, kind: str) -> None:
    with pytest.raises(GeocodeError) as info:
        TiandituProvider(SECRET).parse(status, b(body) if body else b"")
    err = info.value
    assert err.kind == kind and err.fatal
    if body:
        assert body["msg"] in str(err) and body["resolve"] in str(err)
    if kind == "fatal_quota":
        assert "使用量超限或被限制" in str(err) and "quota is used up or the service blocks it" in str(err)
    no_key(err, SECRET)


@pytest.mark.parametrize("status,body", [
    (200, b"<html>x</html>"), (200, b(TDT_OK_DOOR)[:30]), (200, b'{"msg":"ok","status":"0"}'),
    (200, b(dict(TDT_OK_DOOR, location={"lon": "abc", "lat": "abc"}))),
    (200, b'{"msg":"error","status":"404"}'), (404, b"<html>not found</html>"),
])
def test_tianditu_malformed(status: int, body: bytes) -> None:
    with pytest.raises(GeocodeError) as info:
        TiandituProvider("k").parse(status, body)
    assert info.value.kind == "malformed" and not info.value.fatal


@pytest.mark.parametrize("level,precision", [
    ("门牌号", "door"), ("门址", "door"), ("单元号", "door"), ("楼层", "door"), ("房间", "door"),
    ("兴趣点", "poi"), ("公交地铁站点", "poi"), ("公交站台", "poi"), ("地铁站", "poi"), ("住宅区", "poi"),
    ("道路", "road"), ("道路交叉路口", "road"), ("小巷", "road"),
    ("热点商圈", "district"), ("村庄", "district"), ("乡镇", "district"), ("开发区", "district"),
    ("区县", "district"), ("市", "district"), ("省", "district"), ("国家", "district"),
    ("未知", "unknown"), ("", "unknown"), ("新级别", "unknown"),
])
def test_amap_levels(level: str, precision: str) -> None:
    assert gc.amap_precision(level) == precision


@pytest.mark.parametrize("level,precision", [
    ("门址", "door"), ("门牌号", "door"), ("地名地址", "poi"), ("兴趣点", "poi"), ("POI", "poi"),
    ("道路", "road"), ("行政区划", "district"), ("区县", "district"), ("乡镇", "district"), ("市", "district"),
    ("省", "district"), ("行政区划-县", "district"), ("", "unknown"), ("其他", "unknown"),
])
def test_tianditu_levels(level: str, precision: str) -> None:
    assert gc.tianditu_precision(level) == precision


# -- providers against the stubs ---------------------------------------------------------------------

def test_amap_stub_answer_and_request(amap_stub: AmapStub, fake: FakeTime) -> None:
    ans = amap(amap_stub, fake).geocode("广东省广州市越秀区较场西路营业厅", "440100")
    expected = wgs(YUEXIU_GCJ)
    assert (ans.lon, ans.lat) == pytest.approx(expected, abs=1e-9)
    assert 300 < float(haversine_m(ans.lon, ans.lat, *YUEXIU_GCJ)) < 1000
    assert boundaries.district_of(ans.lon, ans.lat) == "440104"
    path, params = amap_stub.requests[0]
    assert path == "/v3/geocode/geo"
    assert params == {"key": GOOD_KEY, "address": "广东省广州市越秀区较场西路营业厅", "city": "440100", "output": "JSON"}


def test_amap_base_url_path_prefix(fake: FakeTime) -> None:
    p = AmapProvider("k", "https://proxy.example/amap/")
    assert p.url == "https://proxy.example/amap/v3/geocode/geo"
    assert AmapProvider("k").url == "https://restapi.amap.com/v3/geocode/geo"
    assert TiandituProvider("k").url == "https://api.tianditu.gov.cn/geocoder"
    assert SECRET not in repr(AmapProvider(SECRET))


def test_amap_stub_missing_address_answers_20001(amap_stub: AmapStub) -> None:
    import requests

    resp = requests.get(amap_stub.base_url + "/v3/geocode/geo", params={"key": GOOD_KEY}, timeout=2)
    with pytest.raises(GeocodeError) as info:
        AmapProvider("k").parse(resp.status_code, resp.content)
    assert (info.value.kind, info.value.code, info.value.fatal) == ("bad_request", "20001", False)


def test_empty_query_is_bad_request_without_a_request(amap_stub: AmapStub, fake: FakeTime) -> None:
    with pytest.raises(GeocodeError) as info:
        amap(amap_stub, fake).geocode("  ")
    assert info.value.kind == "bad_request" and not amap_stub.requests


def test_amap_no_result(amap_stub: AmapStub, fake: FakeTime) -> None:
    assert amap(amap_stub, fake).geocode("广东省广州市越秀区不存在的地方") is None


def test_amap_invalid_key_is_fatal_and_hides_key(amap_stub: AmapStub, fake: FakeTime) -> None:
    with pytest.raises(GeocodeError) as info:
        amap(amap_stub, fake, key=SECRET).geocode("越秀区较场西路")
    assert info.value.kind == "fatal_key" and info.value.fatal and "10001" in str(info.value)
    no_key(info.value, SECRET)
    assert len(amap_stub.requests) == 1


def test_amap_quota_is_fatal(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.mode = "quota"
    with pytest.raises(GeocodeError) as info:
        amap(amap_stub, fake).geocode("越秀区较场西路")
    assert info.value.kind == "fatal_quota" and info.value.fatal and "00:00" in str(info.value)
    assert len(amap_stub.requests) == 1


def test_amap_qps_backs_off_then_succeeds(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.script("qps", "qps")
    ans = amap(amap_stub, fake).geocode("越秀区较场西路")
    assert ans is not None and len(amap_stub.requests) == 3
    assert len(fake.sleeps) == 2  # back-off only: it exceeds the 0.4 s pace
    assert 1.0 <= fake.sleeps[0] <= 1.1 and 2.0 <= fake.sleeps[1] <= 2.2


def test_amap_qps_exhausted_is_fatal(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.mode = "qps"
    with pytest.raises(GeocodeError) as info:
        amap(amap_stub, fake).geocode("越秀区较场西路")
    assert (info.value.kind, info.value.fatal, info.value.code) == ("retry_exhausted", True, "10021")
    assert len(amap_stub.requests) == 5
    assert [int(s) for s in fake.sleeps] == [1, 2, 4, 8]


def test_amap_http_429_is_retried_like_qps(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.script("http429")
    assert amap(amap_stub, fake).geocode("越秀区较场西路") is not None
    assert len(amap_stub.requests) == 2 and 1.0 <= fake.sleeps[0] <= 1.1


def test_amap_backoff_is_capped(fake: FakeTime) -> None:
    p = AmapProvider("k", clock=fake.clock, sleep=fake.sleep)
    assert 60 <= p._backoff(10) <= 66


def test_amap_10004_waits_for_the_next_minute(amap_stub: AmapStub, fake: FakeTime) -> None:
    fake.now = 1_700_000_022.5  # 42.5 s into a minute (epoch minutes start at multiples of 60)
    assert (fake.now % 60) == pytest.approx(42.5)
    amap_stub.script("minute")
    assert amap(amap_stub, fake).geocode("越秀区较场西路") is not None
    assert len(fake.sleeps) == 1 and 17.5 <= fake.sleeps[0] <= 19.0
    assert (fake.now % 60) < 2


def test_amap_engine_error_retried_once_then_station_error(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.mode = "engine"
    with pytest.raises(GeocodeError) as info:
        amap(amap_stub, fake).geocode("越秀区较场西路")
    assert info.value.kind == "malformed" and not info.value.fatal and len(amap_stub.requests) == 2
    amap_stub.requests.clear()
    amap_stub.mode = "ok"
    amap_stub.script("engine")
    assert amap(amap_stub, fake).geocode("越秀区较场西路") is not None and len(amap_stub.requests) == 2


def test_amap_bad_params_not_retried(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.mode = "bad_params"
    with pytest.raises(GeocodeError) as info:
        amap(amap_stub, fake).geocode("越秀区较场西路")
    assert info.value.kind == "bad_request" and not info.value.fatal and len(amap_stub.requests) == 1


@pytest.mark.parametrize("mode", ["http500", "http502"])
def test_server_errors_retried_then_transport_fatal(amap_stub: AmapStub, fake: FakeTime, mode: str) -> None:
    amap_stub.mode = mode
    with pytest.raises(GeocodeError) as info:
        amap(amap_stub, fake).geocode("越秀区较场西路")
    assert (info.value.kind, info.value.fatal) == ("transport", True) and f"HTTP {mode[4:]}" in str(info.value)
    assert len(amap_stub.requests) == 3 and [int(s) for s in fake.sleeps] == [1, 2]


def test_server_error_then_ok(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.script("http500")
    assert amap(amap_stub, fake).geocode("越秀区较场西路") is not None


def test_unreachable_service_is_fatal_and_redacted(fake: FakeTime) -> None:
    stub = AmapStub().start()
    base = stub.base_url
    stub.stop()
    p = AmapProvider(SECRET, base, timeout=(1, 0.2), clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(GeocodeError) as info:
        p.geocode("广东省广州市越秀区较场西路营业厅")
    assert (info.value.kind, info.value.fatal) == ("transport", True)
    assert "ConnectionError" in str(info.value)
    no_key(info.value, SECRET)


@pytest.mark.parametrize("mode", ["html", "truncated", "no_location", "bad_location"])
@pytest.mark.parametrize("which", ["amap", "tianditu"])
def test_malformed_answers_are_station_errors(amap_stub: AmapStub, tdt_stub: TiandituStub, fake: FakeTime,
                                              mode: str, which: str) -> None:
    stub = amap_stub if which == "amap" else tdt_stub
    stub.mode = mode
    p = amap(stub, fake) if which == "amap" else tianditu(stub, fake)
    with pytest.raises(GeocodeError) as info:
        p.geocode("广东省佛山市禅城区岭南公交枢纽站")
    assert (info.value.kind, info.value.fatal) == ("malformed", False)
    assert len(stub.requests) == 1
    no_key(info.value, GOOD_KEY)


def test_timeout_is_a_station_error(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.mode = "timeout"
    started = time.monotonic()
    with pytest.raises(GeocodeError) as info:
        amap(amap_stub, fake).geocode("越秀区较场西路")
    assert time.monotonic() - started < 1.0
    assert (info.value.kind, info.value.fatal, info.value.code) == ("transport", False, "timeout")
    assert len(amap_stub.requests) == 2
    no_key(info.value, GOOD_KEY)


def test_tianditu_stub_answer_and_request(tdt_stub: TiandituStub, fake: FakeTime) -> None:
    p = tianditu(tdt_stub, fake)
    ans = p.geocode("广东省佛山市禅城区岭南公交枢纽站", "440600")
    assert (ans.lon, ans.lat) == pytest.approx(CHANCHENG_WGS, abs=1e-9)  # CGCS2000 taken as is
    assert (ans.precision, ans.level, ans.score) == ("poi", "地名地址", 95.0)
    path, params = tdt_stub.requests[0]
    assert path == "/geocoder" and set(params) == {"ds", "tk"} and params["tk"] == GOOD_KEY
    assert json.loads(params["ds"]) == {"keyWord": "广东省佛山市禅城区岭南公交枢纽站"}  # no city parameter
    assert p.geocode("广东省佛山市禅城区不存在") is None


def test_tianditu_strips_forbidden_characters(tdt_stub: TiandituStub, fake: FakeTime) -> None:
    tianditu(tdt_stub, fake).geocode("禅城区朝安’s & 邮政")
    assert json.loads(tdt_stub.requests[0][1]["ds"])["keyWord"] == "禅城区朝安s  邮政"


@pytest.mark.parametrize("mode,kind", [("invalid_key", "fatal_key"), ("quota", "fatal_quota"),
                                       ("http418", "fatal_quota"), ("http429", "fatal_quota")])
def test_tianditu_refusals_against_stub(tdt_stub: TiandituStub, fake: FakeTime, mode: str, kind: str) -> None:
    tdt_stub.mode = mode
    with pytest.raises(GeocodeError) as info:
        tianditu(tdt_stub, fake).geocode("禅城区岭南")
    assert info.value.kind == kind and info.value.fatal and len(tdt_stub.requests) == 1
    no_key(info.value, GOOD_KEY)


def test_tianditu_wrong_key_quotes_msg(tdt_stub: TiandituStub, fake: FakeTime) -> None:
    with pytest.raises(GeocodeError) as info:
        tianditu(tdt_stub, fake, key=SECRET).geocode("禅城区岭南")
    assert "非法Key" in str(info.value) and "请到API控制台重新申请Key" in str(info.value)
    no_key(info.value, SECRET)


# -- pacing, factory -------------------------------------------------------------------------------

def test_pacer_with_fake_clock(fake: FakeTime) -> None:
    pacer = Pacer(1.0, fake.clock, fake.sleep)
    pacer.wait()
    pacer.wait()
    fake.now += 0.3
    pacer.wait()
    fake.now += 5
    pacer.wait()
    assert fake.sleeps == pytest.approx([1.0, 0.7])


def test_provider_paces_requests(amap_stub: AmapStub, tdt_stub: TiandituStub, fake: FakeTime) -> None:
    p = amap(amap_stub, fake)
    for _ in range(3):
        p.geocode("越秀区较场西路")
    assert fake.sleeps == pytest.approx([0.4, 0.4])
    fake.sleeps.clear()
    t = tianditu(tdt_stub, fake)
    t.geocode("禅城区岭南")
    t.geocode("禅城区岭南")
    assert fake.sleeps == pytest.approx([1.0])
    fake.sleeps.clear()
    q = amap(amap_stub, fake, min_interval=2.5)
    q.geocode("越秀区较场西路")
    q.geocode("越秀区较场西路")
    assert fake.sleeps == pytest.approx([2.5])


def test_make_provider() -> None:
    assert isinstance(make_provider("amap", "k"), AmapProvider)
    assert isinstance(make_provider("高德", "k"), AmapProvider)
    assert isinstance(make_provider("Tianditu", "k", "http://x"), TiandituProvider)
    assert make_provider("tianditu", "k", "http://x/").url == "http://x/geocoder"
    assert gc.PROVIDERS == ("tianditu", "amap")
    with pytest.raises(ValueError, match="unknown geocoding provider"):
        make_provider("baidu", "k")
    with pytest.raises(ValueError, match="no key"):
        make_provider("amap", " ")


# -- cache ------------------------------------------------------------------------------------------

def test_cache_hit_no_result_and_normalisation(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "geocode.sqlite"
    cache = AnswerCache(path)
    ans = Answer(113.1, 23.1, "poi", "兴趣点", None, "某处", "amap")
    assert cache.get("amap", "广州 越秀区", "440100") == (False, None)
    cache.put("amap", "广州 越秀区", "440100", ans)
    cache.put("amap", "无此地", None, None)
    assert cache.get("amap", "广州　 越秀区 ", "440100") == (True, ans)  # full-width space, NFKC
    assert cache.get("amap", "广州 越秀区", None) == (False, None)
    assert cache.get("tianditu", "广州 越秀区", "440100") == (False, None)
    assert cache.get("amap", "无此地", None) == (True, None)
    cache.close()
    with AnswerCache(path) as again:  # persisted
        assert again.get("amap", "广州 越秀区", "440100") == (True, ans) and len(again) == 2
    import sqlite3

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cache_holds_no_key_and_no_errors(amap_stub: AmapStub, fake: FakeTime, tmp_path: Path) -> None:
    amap_stub.key = SECRET
    amap_stub.script("bad_location", query="岭南")
    path = tmp_path / "geocode.sqlite"
    cache = AnswerCache(path)
    p = amap(amap_stub, fake, key=SECRET)
    rows = stations(("A", "", "较场西路营业厅", "440104"), ("B", "", "岭南公交枢纽站", "440604"),
                    ("C", "", "不存在的地方", "440104"))
    out = geocode_stations(rows, p, cache=cache)
    assert [o.status for o in out] == ["located", "waiting", "waiting"]
    assert out[1].error and not out[2].error
    query_b = out[1].query
    assert cache.get("amap", query_b, "440600") == (False, None)  # the error is not cached
    assert cache.get("amap", out[2].query, "440100") == (True, None)  # no result is
    cache.close()
    for f in tmp_path.iterdir():
        assert SECRET.encode() not in f.read_bytes()


# -- queries ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("station,expected", [
    ({"name": "x", "address": "较场西路营业厅", "adcode": "440104"}, ("广东省广州市越秀区较场西路营业厅", "440100")),
    ({"name": "x", "address": "越秀区中山二路", "adcode": "440104"}, ("广东省广州市越秀区中山二路", "440100")),
    ({"name": "x", "address": "广州市工人文化宫", "adcode": "440104"}, ("广东省广州市工人文化宫", "440100")),
    ({"name": "x", "address": "广东省肇庆市端州区端州一路26号", "adcode": "441202"},
     ("广东省肇庆市端州区端州一路26号", "441200")),
    ({"name": "户外劳动者爱心驿站(禅城区岭南公交枢纽站)", "address": "", "adcode": "440604"},
     ("广东省佛山市户外劳动者爱心驿站(禅城区岭南公交枢纽站)", "440600")),
    ({"name": "人民广场爱心驿站(高德 B0J057S1T0)", "address": float("nan"), "adcode": "360428"},
     ("江西省九江市都昌县人民广场爱心驿站", "360400")),
    ({"name": "红色蒲公英驿站(东街社区站)(高德 B0J1J7YSDT)", "address": None, "adcode": 360428},
     ("江西省九江市都昌县红色蒲公英驿站(东街社区站)", "360400")),
    ({"name": "景程新天地爱心驿站(高德:红色蒲公英东湖社区站 B0KG7HA2PR)", "address": "", "adcode": "360428"},
     ("江西省九江市都昌县景程新天地爱心驿站", "360400")),
    ({"name": "x", "address": "济川广场", "adcode": "441900"}, ("广东省东莞市济川广场", "441900")),
    ({"name": "x", "address": "某路1号", "adcode": "429004"}, ("湖北省仙桃市某路1号", "420000")),
    ({"name": "Tom’s & Co 驿站", "address": "", "adcode": ""}, ("Toms Co 驿站", None)),
    ({"name": "", "address": "", "adcode": "440104"}, ("", "440100")),
])
def test_query_for(station: dict, expected: tuple[str, str | None]) -> None:
    assert query_for(station) == expected


def test_district_centre_inside() -> None:
    for code in ("440104", "440604", "441900"):
        lon, lat = district_centre(code)
        assert boundaries.district_of(lon, lat) == code
    assert district_centre("999999") is None and district_centre("") is None


# -- the run ----------------------------------------------------------------------------------------

def stations(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """Registry-like rows (id, name, address, adcode) waiting for a location."""
    frame = pd.DataFrame(rows, columns=["id", "name", "address", "adcode"])
    return frame.assign(type="工会爱心驿站", status="待定位", lon=np.nan, lat=np.nan)


GUANGDONG = stations(
    ("ST1", "中国电信广州越秀区较场西营业厅工会爱心驿站", "较场西路营业厅", "440104"),
    ("ST2", "户外劳动者爱心驿站(禅城区岭南公交枢纽站)", "岭南公交枢纽站", "440604"),
    ("ST3", "中国电信广州中山二营业厅工会爱心驿站", "中山二路", "440104"),
    ("ST4", "禅城区快递小哥红色驿站(中国邮政朝安所)", "无结果的地址", "440604"),
)


def test_run_located_road_and_fallback(amap_stub: AmapStub, fake: FakeTime) -> None:
    got: list[Outcome] = []
    out = geocode_stations(GUANGDONG, amap(amap_stub, fake), on_outcome=got.append)
    assert got == out and [o.id for o in out] == ["ST1", "ST2", "ST3", "ST4"]
    one, two, road, none = out
    assert (one.status, one.precision, one.provider, one.candidate, one.error) == ("located", "poi", "amap", None, "")
    assert (one.lon, one.lat) == pytest.approx(wgs(YUEXIU_GCJ), abs=1e-9)
    assert (two.status, two.precision) == ("located", "poi")
    assert (two.lon, two.lat) == pytest.approx(wgs(CHANCHENG_GCJ), abs=1e-9)
    # a road answer stays waiting with its candidate
    assert (road.status, road.precision) == ("waiting", "road")
    assert road.candidate["precision"] == "road" and road.candidate["level"] == "道路"
    assert (road.candidate["lon"], road.candidate["lat"]) == pytest.approx(wgs(YUEXIU_GCJ), abs=1e-9)
    assert set(road.candidate) == {"lon", "lat", "precision", "level", "score", "label", "provider", "at", "query"}
    assert road.candidate["query"] == "广东省广州市越秀区中山二路" and "road" in road.reason
    json.dumps([o.candidate for o in out])
    # no result: the district centre, never located
    assert (none.status, none.precision, none.provider) == ("waiting", "district", "boundaries")
    assert none.candidate["provider"] == "boundaries" and none.candidate["precision"] == "district"
    assert boundaries.district_of(none.lon, none.lat) == "440604"
    assert float(boundaries.distance_to_district_m(none.lon, none.lat, "440604")) == 0.0
    # with road allowed, the road answer is accepted
    out = geocode_stations(GUANGDONG.iloc[[2]], amap(amap_stub, fake), min_precision="road")
    assert out[0].status == "located" and out[0].precision == "road"


def test_run_rejects_far_and_foreign_answers(amap_stub: AmapStub, fake: FakeTime) -> None:
    rows = stations(("F", "x", "越秀区错位", "440104"), ("T", "x", "台北", ""), ("U", "x", "越秀区较场西路营业厅", "999999"))
    far, foreign, unknown = geocode_stations(rows, amap(amap_stub, fake))
    assert (far.status, far.precision) == ("waiting", "door") and "440104" in far.reason
    assert far.candidate["precision"] == "door"
    assert float(boundaries.distance_to_district_m(far.lon, far.lat, "440104")) > 2000
    assert foreign.status == "waiting" and "mainland" in foreign.reason
    assert unknown.status == "waiting" and "unknown distance" in unknown.reason
    # a wider tolerance accepts the far answer (17 km away)
    out = geocode_stations(rows.iloc[:1], amap(amap_stub, fake), district_tolerance_m=50_000)
    assert out[0].status == "located"


def test_run_without_adcode_and_no_result(amap_stub: AmapStub, fake: FakeTime) -> None:
    rows = stations(("N", "某驿站", "不存在", ""), ("E", "", "", "440104"))
    none, empty = geocode_stations(rows, amap(amap_stub, fake))
    assert (none.status, none.candidate, none.lon, none.error) == ("waiting", None, None, "")
    assert empty.status == "waiting" and empty.error and len(amap_stub.requests) == 1


def test_run_limit_counts_requests_only(amap_stub: AmapStub, fake: FakeTime, tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "c.sqlite")
    out = geocode_stations(GUANGDONG, amap(amap_stub, fake), limit=2, cache=cache)
    assert [o.id for o in out] == ["ST1", "ST2"] and len(amap_stub.requests) == 2
    out = geocode_stations(GUANGDONG, amap(amap_stub, fake), limit=1, cache=cache)
    assert [o.id for o in out] == ["ST1", "ST2", "ST3"] and [o.from_cache for o in out] == [True, True, False]
    assert len(amap_stub.requests) == 3


def test_run_stops_on_fatal_after_delivering_and_resumes_from_cache(amap_stub: AmapStub, fake: FakeTime,
                                                                   tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "geocode.sqlite")
    amap_stub.script("ok", "ok", "quota")
    got: list[Outcome] = []
    with pytest.raises(GeocodeError) as info:
        geocode_stations(GUANGDONG, amap(amap_stub, fake), cache=cache, on_outcome=got.append)
    assert info.value.kind == "fatal_quota" and info.value.fatal
    assert [o.id for o in got] == ["ST1", "ST2"] and [o.id for o in info.value.outcomes] == ["ST1", "ST2"]
    asked_before = list(amap_stub.queries())
    assert len(asked_before) == 3
    # the next day: the same run resumes, the first two come from the cache
    amap_stub.requests.clear()
    out = geocode_stations(GUANGDONG, amap(amap_stub, fake), cache=cache)
    assert [o.from_cache for o in out] == [True, True, False, False]
    assert [o.status for o in out] == ["located", "located", "waiting", "waiting"]
    assert amap_stub.queries() == ["广东省广州市越秀区中山二路", "广东省佛山市禅城区无结果的地址"]


def test_run_invalid_key_stops_before_anything(amap_stub: AmapStub, fake: FakeTime) -> None:
    got: list[Outcome] = []
    with pytest.raises(GeocodeError) as info:
        geocode_stations(GUANGDONG, amap(amap_stub, fake, key=SECRET), on_outcome=got.append)
    assert info.value.kind == "fatal_key" and got == []
    no_key(info.value, SECRET)


def test_run_station_errors_do_not_stop(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.script("truncated", query="岭南")
    amap_stub.script("bad_params", query="中山二路")
    out = geocode_stations(GUANGDONG, amap(amap_stub, fake))
    assert [o.status for o in out] == ["located", "waiting", "waiting", "waiting"]
    assert out[1].error and "JSON" in out[1].error and out[1].candidate is None
    assert out[2].error and "20000" in out[2].error
    assert out[3].error == "" and out[3].precision == "district"


def test_run_consecutive_timeouts_stop(amap_stub: AmapStub, fake: FakeTime) -> None:
    amap_stub.mode = "timeout"
    p = amap(amap_stub, fake)
    p.timeout_tries = 1
    got: list[Outcome] = []
    with pytest.raises(GeocodeError) as info:
        geocode_stations(GUANGDONG, p, on_outcome=got.append, max_consecutive_timeouts=2)
    assert (info.value.kind, info.value.fatal) == ("transport", True)
    assert [o.id for o in got] == ["ST1", "ST2"] and all(o.error for o in got)


def test_run_with_tianditu(tdt_stub: TiandituStub, fake: FakeTime, tmp_path: Path) -> None:
    rows = stations(("A", "x", "岭南公交枢纽站", "440604"),
                    ("B", "禅城区快递小哥红色驿站(中国邮政朝安所)", "朝安所", "440604"))
    cache = AnswerCache(tmp_path / "g.sqlite")
    out = geocode_stations(rows, tianditu(tdt_stub, fake), cache=cache)
    assert [o.status for o in out] == ["located", "located"]
    assert (out[0].lon, out[0].lat) == CHANCHENG_WGS and out[0].provider == "tianditu"
    assert out[1].precision == "door" and out[1].score == 100.0
    assert cache.get("tianditu", "广东省佛山市禅城区朝安所", None)[0]  # no city in the key
    assert all(set(p) == {"ds", "tk"} for _, p in tdt_stub.requests)


def test_run_rejects_bad_min_precision(amap_stub: AmapStub, fake: FakeTime) -> None:
    with pytest.raises(ValueError, match="min_precision"):
        geocode_stations(GUANGDONG, amap(amap_stub, fake), min_precision="district")


def test_module_has_no_web_or_database_imports() -> None:
    import ast

    tree = ast.parse(Path(gc.__file__).read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {f"{'.' * n.level}{n.module or ''}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(("storage" in n or "web" in n or "flask" in n.lower()) for n in names), names
