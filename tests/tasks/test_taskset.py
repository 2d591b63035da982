"""Task sets: the WebVoyager JSONL format and its reference answers, filters, limits, shards, and the MiniWoB++ suite."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from webcoach.errors import ConfigError, InputError
from webcoach.tasks.miniwob import available_tasks, build_site, miniwob_tasks
from webcoach.tasks.taskset import (
    SAMPLE_ANSWERS,
    SAMPLE_TASKS,
    Task,
    load_answers,
    load_tasks,
    parse_shard,
    select,
    take_shard,
    with_answers,
)


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_the_bundled_sample_loads_in_file_order_and_points_at_the_local_shop() -> None:
    tasks = load_tasks(SAMPLE_TASKS)
    assert [t.id for t in tasks] == ["Acme Books--0", "Acme Books--1", "Acme Books--2", "Acme Books--3", "Acme Books Help--0"]
    first = tasks[0]
    assert first.site == "Acme Books" and first.question.startswith("Find the cheapest science fiction book")
    assert first.local and first.url("http://127.0.0.1:9/") == "http://127.0.0.1:9/shop/index.html"
    with pytest.raises(ConfigError, match="locally served site"):
        first.url(None)


def test_a_live_site_url_is_used_as_it_is() -> None:
    task = Task(id="GitHub--0", site="GitHub", question="q", start_url="https://github.com/")
    assert not task.local and task.url(None) == task.url("http://127.0.0.1:1") == "https://github.com/"


def test_webvoyager_lines_load_with_any_extra_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "wv.jsonl",
        [
            {"web_name": "Allrecipes", "id": "Allrecipes--0", "ques": " Find a recipe. ", "web": "https://www.allrecipes.com/"},
            "",
            {"web_name": "GitHub", "id": "GitHub--3", "ques": "Star a repo.", "web": "https://github.com/", "extra": 1},
        ],
    )
    tasks = load_tasks(path)
    assert [(t.id, t.site, t.question) for t in tasks] == [
        ("Allrecipes--0", "Allrecipes", "Find a recipe."),
        ("GitHub--3", "GitHub", "Star a repo."),
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", r"line 2 is not JSON"),
        ("[1, 2]", r"line 2 is not a JSON object"),
        (json.dumps({"web_name": "A", "id": "A--1", "web": "https://a/"}), r"line 2: field 'ques' is missing"),
        (
            json.dumps({"web_name": "A", "id": "A--0", "ques": "again", "web": "https://a/"}),
            r"line 2: task id 'A--0' already used on line 1",
        ),
    ],
)
def test_a_bad_line_names_the_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = _write(tmp_path / "tasks.jsonl", [{"web_name": "A", "id": "A--0", "ques": "q", "web": "https://a/"}, bad])
    with pytest.raises(InputError, match=message) as info:
        load_tasks(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_and_empty_task_files(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"no such task file.*curl -LO https://raw\.githubusercontent\.com/MinorJerry/WebVoyager"
    ):
        load_tasks(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="holds no tasks"):
        load_tasks(_write(tmp_path / "empty.jsonl", [""]))


def test_reference_answers_attach_by_site_and_number() -> None:
    answers = load_answers(SAMPLE_ANSWERS)
    tasks = with_answers(load_tasks(SAMPLE_TASKS), answers)
    by_id = {t.id: t for t in tasks}
    assert [(a.kind, a.answer) for a in by_id["Acme Books--0"].answers] == [("golden", "Foundation, $7.25")]
    assert by_id["Acme Books--3"].answers[0].kind == "possible"
    assert by_id["Acme Books Help--0"].answers[0].answer == "Titles only."


def test_a_malformed_answer_file_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "ans.json"
    path.write_text(json.dumps({"A": {"notice": "", "answers": [{"id": 0}]}}), encoding="utf-8")
    with pytest.raises(InputError, match="answer 0 of site 'A' needs 'id' and 'ans'"):
        load_answers(path)


def test_select_by_site_id_and_limit_keeps_file_order() -> None:
    tasks = load_tasks(SAMPLE_TASKS)
    assert [t.id for t in select(tasks, sites=["acme books help"])] == ["Acme Books Help--0"]
    two = [t.id for t in select(tasks, sites=["Acme Books"], limit=2)]
    assert len(two) == 2 and two == sorted(two) and two == [t.id for t in select(tasks, sites=["Acme Books"], limit=2)]
    assert [t.id for t in select(tasks, ids=["Acme Books--3", "Acme Books--1"])] == ["Acme Books--1", "Acme Books--3"]
    with pytest.raises(ConfigError, match="no tasks for site"):
        select(tasks, sites=["Amazon"])
    with pytest.raises(ConfigError, match="no task with id X"):
        select(tasks, ids=["X"])
    with pytest.raises(ConfigError, match="at least 1"):
        select(tasks, limit=0)


def test_limit_samples_every_selected_site_with_a_seed() -> None:
    """The README's `--sites Allrecipes,GitHub --limit 40`: 20 of each (the file lists every Allrecipes task first),
    the same 40 for the same seed, others for another seed; a site with fewer tasks gives all it has."""
    from webcoach.tasks.webvoyager import WEBVOYAGER_TASKS

    tasks = load_tasks(WEBVOYAGER_TASKS)
    chosen = select(tasks, sites=["Allrecipes", "GitHub"], limit=40)
    assert Counter(t.site for t in chosen) == {"Allrecipes": 20, "GitHub": 20}
    assert chosen == select(tasks, sites=["Allrecipes", "GitHub"], limit=40)
    assert chosen != select(tasks, sites=["Allrecipes", "GitHub"], limit=40, seed=1)
    assert [t.id for t in chosen] == [t.id for t in tasks if t in chosen]  # file order kept
    first = [t.id for t in tasks if t.site == "Allrecipes"][:20]
    assert [t.id for t in chosen if t.site == "Allrecipes"] != first  # a shuffle, not the head of the file
    shop = load_tasks(SAMPLE_TASKS)
    assert Counter(t.site for t in select(shop, limit=4)) == {"Acme Books": 3, "Acme Books Help": 1}


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 12])
def test_shards_cover_every_task_exactly_once(count: int) -> None:
    tasks = [Task(id=f"S--{i}", site="S", question=f"q{i}", start_url="https://s/") for i in range(10)]
    shards = [take_shard(tasks, (i, count)) for i in range(1, count + 1)]
    ids = [t.id for shard in shards for t in shard]
    assert sorted(ids) == sorted(t.id for t in tasks) and len(ids) == len(set(ids))
    for shard in shards:  # each shard keeps the selection's order
        assert shard == sorted(shard, key=tasks.index)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_shard_specs() -> None:
    assert parse_shard("2/8") == (2, 8) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/4", "5/4", "2", "a/b", "1/0"):
        with pytest.raises(ConfigError, match=r"I/N|between 1 and N"):
            parse_shard(bad)


def test_miniwob_tasks_are_seeded_and_named() -> None:
    assert {"click-tab-2", "email-inbox", "book-flight"} <= set(available_tasks())
    tasks = miniwob_tasks(["click-tab-2", "email-inbox"], episodes=2, seed=10, episode_s=120)
    assert [t.id for t in tasks] == ["click-tab-2--0", "email-inbox--0", "click-tab-2--1", "email-inbox--1"]
    assert tasks[2].site == "click-tab-2"
    assert tasks[2].url("http://h:1") == "http://h:1/miniwob/click-tab-2.html?seed=11&episode_ms=120000"
    assert miniwob_tasks(["click-tab-2"], 2, seed=10) == miniwob_tasks(["click-tab-2"], 2, seed=10)
    with pytest.raises(ConfigError, match="unknown MiniWoB"):
        miniwob_tasks(["click-tab-9"])
    with pytest.raises(ConfigError, match="at least 1"):
        miniwob_tasks(["click-tab-2"], episodes=0)


def test_miniwob_pages_start_a_seeded_long_episode_and_keep_the_first_reward(tmp_path: Path, chromium: str) -> None:
    """Real MiniWoB++ pages in Debian chromium: the same seed poses the same problem, the time limit is the one asked
    for, and the first episode's reward stays readable even if the START cover is clicked again."""
    from playwright.sync_api import sync_playwright
    from webcoach.tasks.site import serve

    root = build_site(tmp_path / "miniwob")
    with serve(root) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            asked = []
            for seed in (1, 1, 2):
                page.goto(f"{base}/miniwob/click-button.html?seed={seed}&episode_ms=90000")
                page.wait_for_function("core.EP_TIMER !== null")
                asked.append(page.evaluate("core.getUtterance()"))
                assert page.evaluate("core.EPISODE_MAX_TIME") == 90000
            assert asked[0] == asked[1] != asked[2]
            assert page.evaluate("window.WEBCOACH_MINIWOB") is None  # running, no result yet

            page.goto(f"{base}/miniwob/click-test-2.html?seed=3&episode_ms=90000")
            page.wait_for_function("core.EP_TIMER !== null")
            page.click("#subbtn2")  # the wrong button
            result = page.evaluate("window.WEBCOACH_MINIWOB")
            assert result == {"done": True, "reward": -1, "raw_reward": -1, "reason": None, "task": "click-test-2", "seed": "3"}
            page.click("#sync-task-cover", force=True)  # would start a new episode on a stock page
            assert page.evaluate("window.WEBCOACH_MINIWOB") == result
            assert page.inner_text("#sync-task-cover") == "EPISODE OVER"
        finally:
            browser.close()
