"""Headless-Chromium check of the registry form under concurrent edits (optimistic concurrency).

A planner opens a station in the form on ``/registry``; someone else changes that station meanwhile.
Saving sends ``If-Match`` with the version the form loaded, the server answers 412, and the form
says so, shows the station's current values (the other person's change included) and names the
changed field; nothing of the planner's edit is written.  Saving again then succeeds on the new
version and both changes are kept.  The same for deleting.  Same browser set-up as
``test_browser.py`` (Debian's Chromium, no download, every request recorded, other hosts aborted).
"""

from __future__ import annotations


import pytest
from conftest import STATION_ROWS, clear_settings, write_csv
from test_browser import PASSWORD, Recorder, _shot, serve_app
from test_browser import browser as chromium  # noqa: F401  test_browser's Chromium fixture, named chromium here

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """STATION_ROWS and a planner, served on 127.0.0.1:<free port>."""
    from yizhan.app import create_app
    from yizhan.stations import import_stations_file

    home = tmp_path_factory.mktemp("conflict-home")
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        app = create_app({"HOME": str(home), "TILES": "none", "RATE_LIMIT_ENABLED": False})
    reg = app.extensions["yizhan"].registry
    import_stations_file(reg, write_csv(home / "stations.csv", STATION_ROWS), user="seed")
    reg.create_user("planner", PASSWORD, "planner")
    with serve_app(app) as url:
        yield {"url": url, "registry": reg}


def _open(page, sid: str) -> None:
    page.locator(f'#station-table tr[data-id="{sid}"] button').click()
    page.wait_for_function(f"() => document.querySelector('#station-form [name=id]').value === '{sid}'")


def test_the_form_sends_if_match_and_shows_a_conflicting_change(chromium, server) -> None:  # noqa: F811
    reg = server["registry"]
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.on("dialog", lambda d: d.accept())                         # the page's own "delete?" question
    sent: list[tuple[str, str, str | None]] = []
    page.on("request", lambda r: r.method in ("PATCH", "DELETE") and
            sent.append((r.method, r.url.rsplit("/", 1)[1], r.headers.get("if-match"))))
    page.goto(server["url"] + "/login?next=/registry")
    page.fill("input[name=username]", "planner")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/registry"))
    page.wait_for_selector("#station-table tbody tr[data-id]", timeout=30_000)

    # -- save: someone else changed the phone number after the form loaded the station
    _open(page, "T1")
    assert page.input_value("#station-form [name=hours]") == "08:00-20:00"
    reg.update_station("T1", {"phone": "020-99999999"}, user="someone-else", expected_version=1)
    page.fill("#station-form [name=hours]", "07:00-22:00")
    page.click("#st-save")
    page.wait_for_selector("#form-problems li[data-conflict]", timeout=30_000)
    assert "他人修改" in page.inner_text("#form-msg") and "someone else" in page.inner_text("#form-msg")
    assert page.locator("#form-msg.is-error").count() == 1
    assert "phone" in page.inner_text("#form-problems li[data-conflict]")
    assert page.input_value("#station-form [name=phone]") == "020-99999999"        # the current values, shown
    assert page.input_value("#station-form [name=hours]") == "08:00-20:00"
    assert reg.get("T1")["hours"] == "08:00-20:00" and reg.get("T1").version == 2  # nothing of ours written
    _shot(page, "registry-conflict.png")
    # saving again works on the new version, and keeps both changes
    page.fill("#station-form [name=hours]", "07:00-22:00")
    page.click("#st-save")
    page.wait_for_selector("#form-msg.is-ok", timeout=30_000)
    now = reg.get("T1")
    assert (now["hours"], now["phone"], now.version) == ("07:00-22:00", "020-99999999", 3)
    assert sent == [("PATCH", "T1", '"1"'), ("PATCH", "T1", '"2"')]

    # -- delete: the station changed after the form loaded it
    _open(page, "T2")
    reg.update_station("T2", {"hours": "09:00-18:00"}, user="someone-else")
    page.click("#st-delete")
    page.wait_for_selector("#form-problems li[data-conflict]", timeout=30_000)
    assert reg.get("T2") is not None and page.input_value("#station-form [name=hours]") == "09:00-18:00"
    assert "hours" in page.inner_text("#form-problems li[data-conflict]")
    page.click("#st-delete")                                           # now on the version it shows
    page.wait_for_function("() => document.querySelector('#station-form').hidden", timeout=30_000)
    assert reg.get("T2") is None
    assert sent[2:] == [("DELETE", "T2", '"1"'), ("DELETE", "T2", '"2"')]

    # the two refusals were the 412s, and nothing else failed
    assert [u.split(" ")[0] for u in rec.failed] == ["412", "412"]
    rec.failed.clear()
    rec.errors = [e for e in rec.errors if "status of 412" not in e]       # the console's note of them
    rec.check()
    context.close()
