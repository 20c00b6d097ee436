"""Reports (issue 13, part 3): ``yizhan report`` and :func:`yizhan.coverage.report.build_report` on the
embedded Guangzhou sample.

The figures printed in the PDF (text extracted with pypdf) are checked against the coverage summary
computed here independently with :func:`yizhan.coverage.analyze`; the PDF carries the map and chart
images and embeds its fonts; the HTML loads nothing from anywhere and escapes station names.
The PDF is made once (module fixture) with the command line, the HTML once with the Python API.
"""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import clear_settings

from yizhan.cli import main
from yizhan.config import load_config
from yizhan.coverage import aggregate, analyze, read_hotspots
from yizhan.coverage.report import ReportError, build_report, find_chromium, station_creations
from yizhan.stations import model
from yizhan.stations.storage import Registry

AREA = "440100"                          # 广州市
HOSTILE = "<script>alert(1)</script>"
NOW = datetime(2026, 6, 1, 12, 0)        # "this year" of the Python-API report: 2026 (Asia/Shanghai)


def _needs_chromium() -> None:
    if find_chromium() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium not found (CI=true: the PDF tests must run; install Debian's chromium)")
        pytest.skip("Chromium not found")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A home with the Guangzhou sample, its demand, the analysis computed here (the expected
    figures), and one station renamed to a script tag: the nearest station of the area's top
    blank spot, so that its name appears in the report's table."""
    home = tmp_path_factory.mktemp("report") / "home"
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        done = CliRunner().invoke(main, ["--home", str(home), "demo"], catch_exceptions=False)
        assert done.exit_code == 0, done.output
        registry = Registry(load_config(home)["DATABASE_URL"])
    demand = aggregate(read_hotspots(home / "sample" / "hotspots.csv"), 9)
    expected = analyze(registry.stations(), demand)
    blank = expected.blank_spots
    top = blank[blank["adcode"].astype(str).str.startswith("4401")].iloc[0]
    registry.update_station(str(top["nearest_id"]), {"name": HOSTILE}, user="test")
    return SimpleNamespace(home=home, registry=registry, demand=demand, expected=expected,
                           summary=expected.summary, hostile_id=str(top["nearest_id"]))


@pytest.fixture(scope="module")
def pdf(sample: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """``yizhan report --area 440100 --out FILE.pdf`` once; its pages and their text (NFKC, spaces
    collapsed), line by line and as one string."""
    _needs_chromium()
    from pypdf import PdfReader

    out = tmp_path_factory.mktemp("report-pdf") / "广州.pdf"
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        done = CliRunner().invoke(main, ["--home", str(sample.home), "report", "--area", AREA, "--out", str(out)],
                                  catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "报告已写入 / report written" in done.output
    reader = PdfReader(out)
    text = "\n".join(page.extract_text() for page in reader.pages)
    lines = [_norm(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    return SimpleNamespace(path=out, reader=reader, raw=text, lines=lines, flat=" ".join(lines))


@pytest.fixture(scope="module")
def report(sample: SimpleNamespace):
    """The Python API's report with proposals, new stations, annual targets and a plan."""
    stations = sample.registry.stations()
    proposals = pd.DataFrame([
        # adcode, status, submitted_at (naive UTC), reviewed_at
        ("440106", "待审核", "2026-03-01T08:00:00", None),
        ("440103", "已采纳", "2026-02-01T08:00:00", "2026-02-10T08:00:00"),
        ("440106", "已采纳", "2025-12-01T08:00:00", "2026-01-05T08:00:00"),      # accepted this year
        ("440104", "已驳回", "2026-05-01T08:00:00", "2026-05-03T08:00:00"),
        ("440113", "待审核", "2025-12-31T17:00:00", None),                        # 2026-01-01 01:00 in Shanghai
        ("440305", "已采纳", "2026-03-01T08:00:00", "2026-03-02T08:00:00"),      # 深圳: outside the area
        ("440111", "已采纳", "2025-03-01T08:00:00", "2025-04-01T08:00:00"),      # last year
    ], columns=["adcode", "status", "submitted_at", "reviewed_at"])
    created = pd.DataFrame([
        ("A", datetime(2026, 3, 1), "工会爱心驿站", "440106"),
        ("B", datetime(2026, 4, 1), "工会爱心驿站", "440305"),                     # outside
        ("C", datetime(2025, 6, 1), "工会爱心驿站", "440106"),                     # last year
        ("D", datetime(2026, 2, 1), "司机之家", "440111"),
    ], columns=["station_id", "at", "type", "adcode"])
    targets = {"new_stations": {"工会爱心驿站": 200, "司机之家": 10}, "covered_share": {"外卖配送员": 0.9}}
    # the analysis made in ``sample`` is reused (as the web app reuses its cached one); the PDF test
    # checks a report that ran its own
    return build_report(stations, sample.demand, area=AREA, result=sample.expected, proposals=proposals,
                        created=created, annual_targets=targets, years=2, per_year=3, now=NOW,
                        source="sample/hotspots.csv")


def _norm(text: str) -> str:
    """Text as the fixture normalises the PDF's: NFKC (full-width brackets become ASCII), single spaces."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def _area_row(summary: pd.DataFrame, adcode: str, level: str) -> pd.Series:
    return summary[(summary["adcode"] == adcode) & (summary["level"] == level)].iloc[0]


# -- the PDF (command line) -------------------------------------------------------------------------

def test_pdf_figures_equal_the_summary(pdf: SimpleNamespace, sample: SimpleNamespace) -> None:
    s = sample.summary
    area = _area_row(s, AREA, "city")
    districts = s[(s["level"] == "district") & s["adcode"].str.startswith("4401")]
    assert len(districts) == 11
    for r in [*districts.to_dict("records"), area.to_dict()]:
        name = r["name"] + ("（合计）" if r["adcode"] == AREA else "")
        row = (f"{name} {r['adcode']} {r['n_stations']} {r['demand']:.0f} {r['covered_share']:.1%} "
               f"{r['mean_distance_m']:.0f} 米 {r['n_blank_spots']} {r['n_blind_zones']}")
        assert _norm(row) in pdf.lines, row
    # the cover's key figures and the table headings
    assert f"需求覆盖率 {area['covered_share']:.1%}" in pdf.flat
    assert f"空白点 {area['n_blank_spots']}" in pdf.flat
    assert f"盲区 {area['n_blind_zones']}" in pdf.flat
    assert _norm(f"需求最多的空白点（前 20 个，共 {area['n_blank_spots']} 个）") in pdf.flat
    assert _norm(f"最大的盲区（前 10 个，共 {area['n_blind_zones']} 个）") in pdf.flat
    # stations by type: the registry's counts by status, and the stations the analysis used (summary)
    stations = sample.registry.stations()
    for t in model.STATION_TYPES:
        of_type = stations[(stations["type"] == t) & stations["adcode"].str.startswith("4401")]
        counts = [int((of_type["status"] == st).sum()) for st in ("在运营", "筹建中", "停用", "待定位")]
        row = f"{t} {' '.join(map(str, counts))} {len(of_type)} {area[f'stations_{t}']}"
        assert row in pdf.lines, row
    # text extracts as written (embedded subset font): no look-alike Kangxi radicals (⼴ for 广)
    assert "广州市驿站覆盖分析报告" in pdf.raw
    # the station name is shown as text
    assert HOSTILE in pdf.flat


def test_pdf_pages_images_fonts(pdf: SimpleNamespace) -> None:
    pages = pdf.reader.pages
    assert len(pages) >= 6
    for page in pages:                       # A4 portrait
        box = page.mediabox
        assert abs(float(box.width) - 595.3) < 2 and abs(float(box.height) - 841.9) < 2
    images = [img for page in pages for img in page.images]
    assert len(images) >= 4                  # map + charts (covered share, distances, hours, types)
    assert all(img.image.width >= 600 and img.image.height >= 200 for img in images)
    # every font is embedded: a font file, or (Skia's way with CFF-flavoured OpenType such as Noto
    # Sans CJK) a Type 3 font whose glyph outlines are drawing procedures in the PDF
    families = set()
    for page in pages:
        for ref in page["/Resources"].get("/Font", {}).values():
            font = ref.get_object()
            if "/DescendantFonts" in font:
                font = font["/DescendantFonts"][0].get_object()
            descriptor = font["/FontDescriptor"].get_object()
            families.add(str(descriptor.get("/FontFamily") or descriptor.get("/FontName")))
            if font["/Subtype"] == "/Type3":
                assert len(font["/CharProcs"]) > 0 and "/ToUnicode" in ref.get_object()
            else:
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), descriptor
    assert any("CJK" in family for family in families), families


# -- the HTML and the Python API ---------------------------------------------------------------------

def test_html_is_self_contained_and_escapes_names(report) -> None:
    html = report.html()
    assert not re.search(r"https?://", html, flags=re.I)
    assert not re.search(r"//[a-z0-9.-]+\.[a-z]{2,}/", html, flags=re.I)          # no protocol-relative URLs
    for attr in re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html, flags=re.I):
        assert attr.startswith("data:"), attr
    for target in re.findall(r"""url\(\s*["']?([^"')]*)""", html):
        assert target.startswith("data:"), target[:40]
    assert "@import" not in html
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) >= 5
    assert "@font-face" in html and "data:font/otf;base64," in html
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_python_report_figures_match_the_summary(report, sample: SimpleNamespace) -> None:
    row = _area_row(sample.summary, AREA, "city")
    f = report.figures
    assert f["covered_share"] == pytest.approx(row.covered_share, rel=1e-12)
    assert (f["n_blank_spots"], f["n_blind_zones"], f["n_used"]) == (row.n_blank_spots, row.n_blind_zones,
                                                                      row.n_stations)
    units = report.tables["units"].set_index("adcode")
    s = sample.summary
    districts = s[(s["level"] == "district") & s["adcode"].str.startswith("4401")]
    for r in districts.itertuples(index=False):
        assert units.loc[r.adcode, "covered_share"] == pytest.approx(r.covered_share, rel=1e-12)
        assert units.loc[r.adcode, "n_blank_spots"] == r.n_blank_spots
    types = report.tables["types"].set_index("type")
    for t in model.STATION_TYPES:
        assert types.loc[t, "used"] == row[f"stations_{t}"]
    # the tables: the area's blank spots in rank order, with district names and nearest stations
    blank = sample.expected.blank_spots
    top = blank[blank["adcode"].str.startswith("4401")].head(20)
    table = report.tables["blank"]
    np.testing.assert_allclose(table["demand"], top["demand"])
    assert table["nearest"].iloc[0] == HOSTILE
    assert set(table["district"]) <= set(districts["name"])
    zones = report.tables["zones"]
    assert list(zones["demand"]) == sorted(zones["demand"], reverse=True)
    assert all(zones["nearest"].astype(bool)) and (zones["nearest_m"] > 1000).all()


def test_proposals_new_stations_and_targets_this_year(report, sample: SimpleNamespace) -> None:
    f = report.figures
    assert f["year"] == 2026
    assert (f["proposals_submitted"], f["proposals_accepted"]) == (4, 2)
    assert f["new_stations"] == 2
    progress = report.tables["progress"].set_index("item")
    assert progress.loc["新建工会爱心驿站", ["done", "target"]].tolist() == [1, 200]
    assert progress.loc["新建司机之家", ["done", "target"]].tolist() == [1, 10]
    riders = analyze(sample.registry.stations(), sample.demand, group="外卖配送员")
    share = _area_row(riders.summary, AREA, "city").covered_share
    assert progress.loc["外卖配送员需求覆盖率", "done"] == pytest.approx(share, rel=1e-9)
    assert progress.loc["外卖配送员需求覆盖率", "target"] == 0.9
    # the plan year by year: two years of three sites in the area, cumulative share rising
    plan = report.tables["plan"]
    assert plan["year"].tolist() == [2027, 2028] and plan["sites"].tolist() == [3, 3]
    assert f["plan_share_before"] == pytest.approx(f["covered_share"], rel=1e-9)
    assert f["covered_share"] < plan["share_after"].iloc[0] < plan["share_after"].iloc[1] <= 1
    assert {"map", "units", "distance", "hours", "types", "plan"} <= set(report.images)


def test_station_creations_from_the_history(sample: SimpleNamespace) -> None:
    from zoneinfo import ZoneInfo

    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    made = station_creations(sample.registry, year=year)
    stations = sample.registry.stations()
    assert len(made) == len(stations) == 320              # the sample was imported this year; a rename is no create
    assert made["type"].value_counts().to_dict() == stations["type"].value_counts().to_dict()
    assert station_creations(sample.registry, year=year - 1).empty


def test_unknown_area_is_a_bilingual_error(sample: SimpleNamespace, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings(monkeypatch)
    for area in ("999999", "朝阳区"):                    # unknown code; a name two districts share
        done = CliRunner().invoke(main, ["--home", str(sample.home), "report", "--area", area,
                                         "--out", str(tmp_path / "r.pdf")])
        assert done.exit_code == 2, done.output
        assert "--area" in done.output and "未知" in done.output and "unknown" in done.output
    assert not (tmp_path / "r.pdf").exists()
    done = CliRunner().invoke(main, ["--home", str(sample.home), "report", "--area", AREA, "--out",
                                     str(tmp_path / "r.docx")])
    assert done.exit_code == 2 and ".pdf" in done.output
    with pytest.raises(ReportError, match="unknown area adcode"):
        build_report(sample.registry.stations(), sample.demand, area="440199")


def test_missing_chromium_is_a_bilingual_error(report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIZHAN_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(ReportError, match="未找到 Chromium.*Chromium not found"):
        report.pdf(tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
    assert report.write(tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!doctype html>")
