"""HARs recorded by real chromium through Playwright's record_har_path, parsed into redacted Trajectories."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from webcoach.condenser.har import parse_har
from webcoach.condenser.redact import MASK, Redactor
from webcoach.condenser.sources import load_trajectory
from webcoach.condenser.trajectory import Trajectory
from webcoach.errors import InputError

PLANTED = ("Hunter2-Secret", "jane.doe@example.org", "jane.doe%40example.org", "sk-ant-api03", "FAKEFAKEFAKE")


def _text(traj: Trajectory) -> str:
    return repr(traj) + json.dumps(asdict(traj), default=str)


def _path_of(url: str | None) -> str | None:
    return None if url is None else url.split("/shop/", 1)[-1]


@pytest.fixture(scope="module")
def har(shop_har: Path) -> dict[str, Any]:
    data = json.loads(shop_har.read_text())
    assert isinstance(data, dict)
    return data


def test_page_loads_become_goto_steps_with_status(har: dict[str, Any], shop_har: Path) -> None:
    traj = parse_har(har, Redactor(), source=str(shop_har))
    assert traj.source_kind == "har" and traj.source == str(shop_har)
    assert {s.action for s in traj.steps} == {"goto"}
    assert [(_path_of(s.target), s.http_status) for s in traj.steps] == [
        ("index.html", 200),
        (f"search.html?q={MASK}", 200),
        ("deals.html", 200),
        ("expired-deal.html", 404),
        ("deals.html", 200),
        ("login.html", 200),
        (f"account.html?email={MASK}&password={MASK}", 200),
    ]
    assert traj.steps[0].url is None and [s.url for s in traj.steps[1:]] == [s.target for s in traj.steps[:-1]]
    assert _path_of(traj.start_url) == "index.html"
    assert [(_path_of(f.url), f.status) for f in traj.http_failures] == [("expired-deal.html", 404)]
    assert traj.started_at is not None and traj.duration_s is not None and traj.duration_s > 0
    starts = [s.started_at for s in traj.steps]
    assert None not in starts and starts == sorted(starts)  # type: ignore[type-var]


def test_planted_secrets_appear_nowhere(har: dict[str, Any], shop_har: Path) -> None:
    assert "Hunter2-Secret%21" in shop_har.read_text()  # the raw HAR carries the submitted password
    leaked = [s for s in PLANTED if s in _text(parse_har(har, Redactor()))]
    assert leaked == []


def test_post_bodies_are_never_kept_and_their_secrets_are_masked_elsewhere(har: dict[str, Any]) -> None:
    data = copy.deepcopy(har)
    entries = data["log"]["entries"]
    post = copy.deepcopy(entries[-1])
    post["request"].update(
        method="POST",
        url=post["request"]["url"].split("?")[0],
        postData={"mimeType": "application/x-www-form-urlencoded", "text": "user=bob&pass_phrase=Correct-Horse-77"},
    )
    echo = copy.deepcopy(entries[-1])  # a later page that echoes the value under an innocent name
    echo["request"]["url"] = echo["request"]["url"].split("?")[0] + "?next=Correct-Horse-77"
    json_post = copy.deepcopy(post)
    json_post["request"]["postData"] = {"mimeType": "application/json", "text": '{"auth": {"api_key": "Zz-json-key-123"}}'}
    json_post["_resourceType"] = "fetch"
    entries += [post, json_post, echo]
    text = _text(parse_har(data, Redactor()))
    assert "Correct-Horse-77" not in text and "Zz-json-key-123" not in text and "user=bob" not in text
    assert f"next={MASK}" in text


def test_failed_requests_and_redirects(har: dict[str, Any]) -> None:
    data = copy.deepcopy(har)
    entries = data["log"]["entries"]
    first = entries[0]
    redirect = copy.deepcopy(first)
    redirect["request"]["url"] = first["request"]["url"].replace("index.html", "old-home")
    redirect["response"].update(status=301, redirectURL=first["request"]["url"])
    failed = copy.deepcopy(first)
    failed["request"]["url"] = "http://unreachable.invalid/"
    failed["response"].update(status=0, _failureText="net::ERR_NAME_NOT_RESOLVED")
    failed["startedDateTime"] = entries[-1]["startedDateTime"].replace("Z", "9Z")  # last
    image = copy.deepcopy(first)
    image.update(_resourceType="image")
    image["request"]["url"] = first["request"]["url"].replace("index.html", "cover.png")
    image["response"]["status"] = 500
    data["log"]["entries"] = [redirect, *entries, image, failed]

    traj = parse_har(data, Redactor())
    assert _path_of(traj.steps[0].target) == "index.html"  # the 301 hop is not a step of its own
    assert traj.steps[-1].target == "http://unreachable.invalid/"
    assert traj.steps[-1].http_status is None and traj.steps[-1].error == "net::ERR_NAME_NOT_RESOLVED"
    assert [(_path_of(f.url), f.status) for f in traj.http_failures] == [
        ("cover.png", 500),  # requested at the same time as the first page
        ("expired-deal.html", 404),
        ("http://unreachable.invalid/", 0),
    ]


MALFORMED: dict[str, tuple[Any, str]] = {
    "no log": ({"entries": []}, "no 'log' object"),
    "log not an object": ({"log": []}, "no 'log' object"),
    "entries not a list": ({"log": {"entries": {"a": 1}}}, "'log.entries' is dict"),
    "no entries": ({"log": {"entries": []}}, "no readable requests"),
    "unreadable entries": ({"log": {"entries": [1, "x", {"request": {"url": 5}}, {"response": {}}]}}, "no readable requests"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_har_gives_a_one_line_input_error(case: str) -> None:
    data, reason = MALFORMED[case]
    with pytest.raises(InputError) as info:
        parse_har(data, Redactor(), source="run.har")
    assert "\n" not in str(info.value) and str(info.value).startswith("run.har: ") and reason in str(info.value)


def test_load_trajectory_reads_a_har_file(shop_har: Path, har: dict[str, Any]) -> None:
    traj = load_trajectory(shop_har)
    assert traj.source_kind == "har" and traj == parse_har(har, Redactor())
