"""Real Playwright traces (Debian chromium, local shop) parsed into redacted Trajectories."""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from webcoach.condenser.playwright_trace import parse_trace
from webcoach.condenser.redact import MASK, Redactor
from webcoach.condenser.sources import load_trajectory
from webcoach.condenser.trajectory import Trajectory
from webcoach.errors import InputError
from webcoach.hooks.playwright import record_trace

PASSWORD, EMAIL, API_KEY = "Hunter2-Secret!", "jane.doe@example.org", "sk-ant-api03-FAKEFAKEFAKEFAKEFAKE1234"
PLANTED = (PASSWORD, EMAIL, API_KEY, "Hunter2-Secret%21", "jane.doe%40example.org", "FAKEFAKEFAKE")
SHOP_ACTIONS = ["goto", "fill", "press", "click", "goto", "click", "back", "goto", "fill", "fill", "click"]

Event = dict[str, Any]


def _rewrite(src: Path, dst: Path, change: Callable[[list[Event]], list[Event]]) -> Path:
    """Copy a trace.zip, passing its trace.trace events through `change`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "trace.trace":
                events = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
                data = "\n".join(json.dumps(e) for e in change(events)).encode()
            zout.writestr(item, data)
    return dst


def _leaked(traj: Trajectory) -> list[str]:
    text = repr(traj) + json.dumps(asdict(traj), default=str)
    return [s for s in PLANTED if s in text]


def _path_of(url: str | None) -> str | None:
    return None if url is None else url.split("/shop/", 1)[-1]


@pytest.fixture(scope="module")
def shop(shop_trace: Path) -> Trajectory:
    return parse_trace(shop_trace, Redactor())


def test_steps_urls_statuses_and_errors_come_from_the_real_trace(shop: Trajectory) -> None:
    assert [s.action for s in shop.steps] == SHOP_ACTIONS
    assert [s.index for s in shop.steps] == list(range(len(SHOP_ACTIONS)))
    goto, fill_q, press, missing, deals, expired, back, login, email, password, signin = shop.steps

    assert goto.url == "about:blank" and _path_of(goto.target) == "index.html" and goto.http_status == 200
    assert _path_of(fill_q.url) == "index.html" and fill_q.target == "#q"
    assert press.value == "Enter" and press.http_status == 200  # the form submit loaded search.html
    assert _path_of(missing.url) == f"search.html?q={MASK}"
    assert missing.target == "#add-to-cart" and missing.http_status is None
    assert missing.error is not None and "Timeout 300ms exceeded" in missing.error and "#add-to-cart" in missing.error
    assert "\n" not in missing.error
    assert deals.http_status == 200 and _path_of(deals.target) == "deals.html"
    assert expired.target == "text=Last week's deal" and expired.http_status == 404
    assert _path_of(back.url) == "expired-deal.html" and back.http_status == 200
    assert _path_of(login.url) == "deals.html" and _path_of(login.target) == "login.html"
    assert (email.target, email.value) == ("#email", MASK)
    assert (password.target, password.value) == ("#password", MASK)
    assert _path_of(signin.url) == "login.html" and signin.http_status == 200
    assert all(s.error is None for s in shop.steps if s is not missing)

    assert _path_of(shop.start_url) == "index.html"
    texts = [m.text for m in shop.page_messages]
    assert "ReferenceError: loadDeals is not defined" in texts
    assert not any("favicon" in e for e in texts)
    # Each message says which page it showed on.
    assert all(m.page_url and "deals" in m.page_url for m in shop.page_messages if "loadDeals" in m.text)
    assert [(_path_of(f.url), f.status, f.method) for f in shop.http_failures] == [("expired-deal.html", 404, "GET")]


def test_timings_are_epoch_seconds_in_order(shop: Trajectory) -> None:
    assert shop.started_at is not None and time.time() - 3600 < shop.started_at <= time.time()
    assert shop.duration_s is not None and 0 < shop.duration_s < 120
    starts = [s.started_at for s in shop.steps]
    assert all(t is not None for t in starts) and starts == sorted(starts)
    assert shop.steps[0].started_at is not None and shop.steps[0].started_at >= shop.started_at
    assert all(s.duration_s is not None and s.duration_s >= 0 for s in shop.steps)
    assert shop.steps[3].duration_s is not None and shop.steps[3].duration_s >= 0.3  # the click that timed out


def test_planted_secrets_appear_nowhere(shop_trace: Path, shop: Trajectory) -> None:
    with zipfile.ZipFile(shop_trace) as z:  # the raw trace does carry them: fill(), DOM values, the submitted URL
        raw = z.read("trace.trace").decode()
    assert PASSWORD in raw and API_KEY in raw and "Hunter2-Secret%21" in raw
    assert _leaked(shop) == []


def test_password_found_from_dom_snapshots_alone(shop_trace: Path, tmp_path: Path) -> None:
    """With a selector that names nothing and no log lines, the DOM snapshots still reveal the password field."""

    def hide(events: list[Event]) -> list[Event]:
        text = json.dumps(events).replace('"#password"', '"#f2"').replace("#password", "#f2")
        return [e for e in json.loads(text) if e.get("type") != "log"]

    traj = parse_trace(_rewrite(shop_trace, tmp_path / "t.zip", hide), Redactor())
    assert traj.steps[9].target == "#f2" and traj.steps[9].value == MASK
    assert _leaked(traj) == []


def test_password_found_from_resolved_element_without_snapshots(shop_trace: Path, tmp_path: Path) -> None:
    """Traced with snapshots=False: the log line naming the resolved <input type="password"> is enough."""

    def strip(events: list[Event]) -> list[Event]:
        text = json.dumps([e for e in events if e.get("type") != "frame-snapshot"]).replace('"#password"', '"#f2"')
        return json.loads(text)

    traj = parse_trace(_rewrite(shop_trace, tmp_path / "t.zip", strip), Redactor())
    assert [s.action for s in traj.steps] == SHOP_ACTIONS
    assert traj.steps[9].value == MASK
    # Without snapshots the page URL follows `navigated to "..."` log lines and goto targets.
    assert [_path_of(s.url) for s in traj.steps[1:4]] == ["index.html", "index.html", f"search.html?q={MASK}"]
    assert _path_of(traj.steps[6].url) == "expired-deal.html"
    assert _leaked(traj) == []


def _to_old_format(version: int, label_key: str) -> Callable[[list[Event]], list[Event]]:
    """Rewrite v10 events the way Playwright <= 1.4x wrote them: API names instead of class/method, named snapshots,
    logs kept on the call, per-call wall time and (v6) no monotonic clock."""
    api = {"goto": "page.goto", "type": "locator.pressSequentially", "goBack": "page.goBack", "newPage": "browserContext.newPage"}

    def change(events: list[Event]) -> list[Event]:
        out: list[Event] = []
        calls: dict[str, Event] = {}
        logs: dict[str, list[str]] = {}
        ctx = next(e for e in events if e["type"] == "context-options")
        for e in events:
            kind = e["type"]
            if kind == "context-options":
                e = {**e, "version": version}
                if version <= 6:
                    e.pop("monotonicTime")
            elif kind == "before":
                method, cls = e.pop("method"), e.pop("class")
                e.pop("title", None)
                e[label_key] = api.get(method, f"{'locator' if cls == 'Frame' else cls.lower()}.{method}")
                e["wallTime"] = ctx["wallTime"] + e["startTime"] - ctx["monotonicTime"]
                calls[e["callId"]] = e
            elif kind == "log":
                logs.setdefault(e["callId"], []).append(e["message"])
                continue
            elif kind == "after":
                e["log"] = logs.pop(e["callId"], [])
            elif kind == "frame-snapshot":
                snap = e["snapshot"]
                name = f"{snap.pop('phase')}@{snap['callId']}"
                snap["snapshotName"] = name
                key = {"before": "beforeSnapshot", "action": "inputSnapshot", "after": "afterSnapshot"}[name.split("@")[0]]
                calls[snap["callId"]][key] = name
            out.append(e)
        return out

    return change


@pytest.mark.parametrize(("version", "label_key"), [(6, "apiName"), (7, "apiName"), (8, "title"), (9, "title")])
def test_older_trace_formats_give_the_same_steps(
    shop_trace: Path, shop: Trajectory, tmp_path: Path, version: int, label_key: str
) -> None:
    old = parse_trace(_rewrite(shop_trace, tmp_path / "old.zip", _to_old_format(version, label_key)), Redactor())
    assert [s.action for s in old.steps] == SHOP_ACTIONS
    for new_step, old_step in zip(shop.steps, old.steps, strict=True):
        assert (old_step.url, old_step.target, old_step.value) == (new_step.url, new_step.target, new_step.value)
        assert old_step.http_status == new_step.http_status
        assert old_step.started_at == pytest.approx(new_step.started_at, abs=0.01)
    assert old.steps[3].error == shop.steps[3].error
    assert _leaked(old) == []


def test_cut_off_last_line_and_broken_lines_are_tolerated(shop_trace: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(shop_trace) as z:
        lines = z.read("trace.trace").decode().splitlines()
    body = "\n".join([*lines[:5], "{not json", "[1, 2]", '{"type": "after", "callId": 12}', *lines[5:]])
    body += '\n{"type":"before","callId":"cut@99","startTime":1,"class":"Frame","method":"click","params":{"sel'
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("trace.trace", body)
    traj = parse_trace(broken, Redactor())
    assert [s.action for s in traj.steps] == SHOP_ACTIONS
    assert all(s.http_status is None for s in traj.steps)  # no trace.network in this copy
    assert _leaked(traj) == []


def _bad_inputs(shop_trace: Path, tmp: Path) -> dict[str, Path]:
    data = shop_trace.read_bytes()
    (tmp / "truncated.zip").write_bytes(data[: len(data) // 2])
    (tmp / "garbage.zip").write_bytes(b"this is not a zip at all\n" * 20)
    with zipfile.ZipFile(tmp / "notrace.zip", "w") as z:
        z.writestr("report.html", "<html></html>")
    with zipfile.ZipFile(tmp / "empty.zip", "w") as z:
        z.writestr("trace.trace", "")
    with zipfile.ZipFile(tmp / "junk.zip", "w") as z:
        z.writestr("trace.trace", "\x00\x01 not json\n{cut")
    with zipfile.ZipFile(tmp / "noactions.zip", "w") as z:
        z.writestr("trace.trace", json.dumps({"type": "context-options", "version": 10, "wallTime": 1, "monotonicTime": 0}))
    _rewrite(
        shop_trace, tmp / "newer.zip", lambda evs: [{**e, "version": 11} if e["type"] == "context-options" else e for e in evs]
    )
    return {
        "truncated": tmp / "truncated.zip",
        "garbage": tmp / "garbage.zip",
        "notrace": tmp / "notrace.zip",
        "empty": tmp / "empty.zip",
        "junk": tmp / "junk.zip",
        "noactions": tmp / "noactions.zip",
        "newer": tmp / "newer.zip",
        "missing": tmp / "missing.zip",
    }


EXPECTED_REASON = {
    "truncated": "truncated or corrupt",
    "garbage": "truncated or corrupt",
    "notrace": "no trace.trace",
    "empty": "no events",
    "junk": "no events",
    "noactions": "no browser actions",
    "newer": "version 11 is newer",
    "missing": "no such file",
}


@pytest.mark.parametrize("case", sorted(EXPECTED_REASON))
def test_bad_input_gives_a_one_line_input_error(shop_trace: Path, tmp_path: Path, case: str) -> None:
    path = _bad_inputs(shop_trace, tmp_path)[case]
    with pytest.raises(InputError) as info:
        parse_trace(path, Redactor())
    message = str(info.value)
    assert "\n" not in message and str(path) in message and EXPECTED_REASON[case] in message


def test_load_trajectory_dispatches_zip_to_the_trace_parser(shop_trace: Path, shop: Trajectory) -> None:
    traj = load_trajectory(shop_trace)
    assert traj.source_kind == "playwright-trace" and traj == shop


def test_only_evaluate_calls_are_kept_when_there_is_nothing_else(tmp_path: Path) -> None:
    events = [
        {"version": 10, "type": "context-options", "wallTime": 1_700_000_000_000, "monotonicTime": 100.0},
        {"type": "before", "callId": "c@1", "startTime": 101.0, "class": "BrowserContext", "method": "newPage", "params": {}},
        {"type": "after", "callId": "c@1", "endTime": 150.0},
        {"type": "before", "callId": "c@2", "startTime": 200.0, "class": "Frame", "method": "evaluateExpression",
         "params": {"expression": "() => document.title"}},
        {"type": "after", "callId": "c@2", "endTime": 210.0},
    ]  # fmt: skip
    path = tmp_path / "eval.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("trace.trace", "\n".join(json.dumps(e) for e in events))
    traj = parse_trace(path, Redactor())
    assert [(s.action, s.value) for s in traj.steps] == [("other", "() => document.title")]
    assert traj.steps[0].started_at == pytest.approx(1_700_000_000.1)
    assert traj.started_at == pytest.approx(1_700_000_000.001) and traj.duration_s == pytest.approx(0.109)


async def test_record_trace_saves_even_when_the_block_fails(site: str, chromium: str, tmp_path: Path) -> None:
    """The async hook writes a trace a failing run can be learned from; keyboard typing after clicking a password
    field (no selector on the typing call) is still recognised as a secret."""
    from playwright.async_api import async_playwright

    path = tmp_path / "nested" / "run.zip"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context()
            with pytest.raises(RuntimeError, match="agent gave up"):
                async with record_trace(context, path) as recorded:
                    assert recorded == path
                    page = await context.new_page()
                    await page.goto(f"{site}/shop/login.html")
                    await page.click("#password")
                    await page.keyboard.type("Kb-Typed-4242")
                    await page.keyboard.press("Tab")
                    await page.keyboard.type("not secret text")
                    raise RuntimeError("agent gave up")
            await context.close()
        finally:
            await browser.close()
    traj = parse_trace(path, Redactor())
    assert [(s.action, s.target, s.value) for s in traj.steps[1:]] == [
        ("click", "#password", None),
        ("fill", None, MASK),
        ("press", None, "Tab"),
        ("fill", None, "not secret text"),
    ]
    assert traj.steps[0].action == "goto" and traj.steps[0].http_status == 200
    assert "Kb-Typed-4242" not in repr(traj)


def test_an_unzipped_trace_folder_reads_as_its_zip(shop_trace: Path, tmp_path: Path) -> None:
    from webcoach.condenser.playwright_mcp import expand_folders

    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(shop_trace) as archive:
        archive.extractall(folder)
    zipped, unzipped = load_trajectory(shop_trace), load_trajectory(folder)
    assert unzipped.steps == zipped.steps and unzipped.http_failures == zipped.http_failures
    assert expand_folders([folder]) == [folder]  # one run, not one per .trace file inside
