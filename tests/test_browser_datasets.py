"""Headless-Chromium check of hotspot datasets on the web.

A planner opens the planner map (the sample's hotspot file: no dataset yet), uploads on ``/datasets``
a file with a bad row (the validation report is shown, nothing stored), then a dataset different
from the sample (its hotspots in central Tianhe only), selects it on the planner map and sees the
map change: the hexagon count and the overall covered share the page shows are those of the new
dataset (checked against the API).  The report links carry the area and the dataset.  Same browser
set-up as ``test_browser.py`` (Debian's Chromium, every request recorded, other hosts aborted, no
JavaScript error, no failed request but the refused upload).
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import clear_settings
from test_browser import PASSWORD, TIMEOUT_MS, Recorder, _shot, serve_app
from test_browser import browser as chromium  # noqa: F401  test_browser's Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
BOX = (113.30, 23.115, 113.37, 23.16)          # central Tianhe, WGS-84
READY = """(want) => { const b = document.getElementById('planner-map');
                       return b && b.dataset.state === 'ready' && +b.dataset.hexagons > 0
                              && (want === null || b.dataset.dataset === want); }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from yizhan.app import create_app
    from yizhan.samples import load_sample

    home = tmp_path_factory.mktemp("datasets-home")
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        app = create_app({"HOME": str(home), "TILES": "none", "RATE_LIMIT_ENABLED": False})
    reg = app.extensions["yizhan"].registry
    load_sample(reg, home)
    reg.create_user("planner", PASSWORD, "planner")
    frame = pd.read_csv(home / "sample" / "hotspots.csv")
    keep = frame["lon"].between(BOX[0], BOX[2]) & frame["lat"].between(BOX[1], BOX[3])
    tianhe = home / "tianhe-orders.csv"
    frame[keep].to_csv(tianhe, index=False)
    bad = home / "bad-orders.csv"
    bad.write_text("lon,lat,weight\n113.33,23.13,1\n113.34,abc,1\n", encoding="utf-8")
    with serve_app(app) as url:
        yield {"url": url, "app": app, "tianhe": tianhe, "bad": bad}


def test_a_planner_uploads_a_dataset_and_the_planner_map_shows_it(chromium, server) -> None:  # noqa: F811
    api = server["app"].test_client()
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.goto(server["url"] + "/login?next=/")
    page.fill("input[name=username]", "planner")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: url.rstrip("/") == server["url"])

    # before: the sample's hotspot file (no dataset: the selector stays hidden)
    page.wait_for_function(READY, arg=None, timeout=TIMEOUT_MS)
    page.wait_for_selector("#filters select[name=dataset][data-ready]", state="attached", timeout=TIMEOUT_MS)
    assert page.locator("#filters [data-dataset-wrap]").is_hidden()
    box = page.locator("#planner-map")
    hexagons_before = int(box.get_attribute("data-hexagons"))
    share_before = page.inner_text("#total-share")
    assert share_before and share_before != "—"

    # a file with a bad row: the validation report, nothing stored
    page.goto(server["url"] + "/datasets")
    page.wait_for_selector("#datasets-table[data-count='0']", timeout=TIMEOUT_MS)
    page.fill("#upload-form [name=name]", "坏文件")
    page.set_input_files("#upload-form [name=file]", str(server["bad"]))
    page.click("#upload-btn")
    page.wait_for_selector("#upload-msg.is-error", timeout=TIMEOUT_MS)
    page.wait_for_selector("#problems:not([hidden])")
    assert page.inner_text("#problems-table tbody tr:first-child td:first-child") == "3"
    assert page.inner_text("#problems-table tbody tr:first-child td:nth-child(2)") == "lat"
    assert api.get("/api/health").status_code == 200
    assert server["app"].extensions["yizhan"].datasets().list() == []
    _shot(page, "datasets-validation-report.png")

    # the Tianhe-only dataset
    page.fill("#upload-form [name=name]", "天河 十月订单 <b>x</b>")
    page.set_input_files("#upload-form [name=file]", str(server["tianhe"]))
    page.click("#upload-btn")
    page.wait_for_selector("#upload-msg.is-ok", timeout=TIMEOUT_MS)
    page.wait_for_selector("#datasets-table[data-count='1']", timeout=TIMEOUT_MS)
    dataset_id = page.get_attribute("#upload-msg", "data-dataset-id")
    assert "天河 十月订单 <b>x</b>" in page.inner_text("#datasets-table tbody")        # shown as text
    assert page.locator("#datasets-table tbody b").count() == 0
    _shot(page, "datasets-uploaded.png")

    # the planner map: choose it, the map changes
    page.goto(server["url"] + "/")
    page.wait_for_selector("#filters [data-dataset-wrap]:not([hidden])", timeout=TIMEOUT_MS)
    page.select_option("#filters select[name=dataset]", dataset_id)
    page.wait_for_function(READY, arg=dataset_id, timeout=TIMEOUT_MS)
    page.wait_for_function("(s) => document.getElementById('total-share').textContent !== s",
                           arg=share_before, timeout=TIMEOUT_MS)
    hexagons_after = int(box.get_attribute("data-hexagons"))
    assert hexagons_after != hexagons_before and hexagons_after < hexagons_before
    summary = api.get(f"/api/coverage/summary?dataset={dataset_id}").get_json()
    shown = page.inner_text("#total-share")
    assert shown != share_before
    assert shown.rstrip("%") == f"{summary['covered_share'] * 100:.1f}" or abs(
        float(shown.rstrip("%")) - summary["covered_share"] * 100) < 0.1
    # the download links follow the dataset; the report of the area shown
    href = page.get_attribute('#downloads a[data-what="summary"][data-format="csv"]', "href")
    assert f"dataset={dataset_id}" in href
    page.select_option("#filters select[name=district]", "440106")
    page.wait_for_function(READY, arg=dataset_id, timeout=TIMEOUT_MS)
    pdf = page.get_attribute('#report-links a[data-format="pdf"]', "href")
    html = page.get_attribute('#report-links a[data-format="html"]', "href")
    assert "area=440106" in pdf and "format=pdf" in pdf and f"dataset={dataset_id}" in pdf
    assert "format=html" in html
    _shot(page, "planner-dataset.png")
    # refused: the bad upload (400), nothing else
    refused = [f for f in rec.failed if f.startswith("400 ") and f.endswith("/api/datasets")]
    assert len(refused) == 1
    rec.failed = [f for f in rec.failed if f not in refused]
    console = [e for e in rec.errors if "status of 400" in e]
    assert len(console) <= 1                       # Chromium logs the refused upload on the console
    rec.errors = [e for e in rec.errors if e not in console]
    rec.check()
    context.close()
