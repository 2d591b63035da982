"""Eval runs end to end: real browser-use Agents driven by ScriptedLLMs in Debian chromium, on the bundled local shop
and on real MiniWoB++ pages, judged by a scripted judge (FunctionModel) or the in-page reward. Only LLMs are scripted."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.condenser.sources import load_trajectory
from webcoach.errors import ConfigError, InputError, WebcoachError
from webcoach.hooks.scripted import ScriptedLLM, prompt_text
from webcoach.llm import FunctionModel
from webcoach.memory.store import EpisodeStore
from webcoach.tasks.evaluate import EvalConfig, evaluate
from webcoach.tasks.judge import BrowserUseJudge
from webcoach.tasks.miniwob import build_site, miniwob_tasks
from webcoach.tasks.report import write_report
from webcoach.tasks.results import read_results
from webcoach.tasks.taskset import SAMPLE_ANSWERS, SAMPLE_TASKS, Task, load_answers, load_tasks, select, with_answers

ANSWERS = {"Acme Books--0": "Foundation, $7.25", "Acme Books--1": "The Vegetarian Lasagna Book, $11.40"}
GENRES = {"Acme Books--0": "Science fiction", "Acme Books--1": "Cooking", "Acme Books--2": "History"}


def shop_agent(task: Task) -> ScriptedLLM:
    """A scripted agent per task: browse the catalog to the task's genre and answer."""
    return ScriptedLLM(
        [
            [{"click": {"text": "Catalog"}}],
            [{"click": {"text": GENRES.get(task.id, "History")}}],
            [{"done": {"text": ANSWERS.get(task.id, "I could not tell."), "success": True}}],
        ]
    )


IDS3 = "Acme Books--0,Acme Books--1,Acme Books--2"


def answer_judge() -> FunctionModel:
    """Success when the agent's answer holds a price; the reasoning quotes the answer."""

    def judge(system: str, prompt: str) -> str:
        answer = prompt.split("<<<DATA result response", 1)[1].split("\n")[1]  # the first line inside the data block
        return f"The response says {answer!r}.\n" + ("SUCCESS" if "$" in answer else "NOT SUCCESS")

    return FunctionModel(judge, model_name="scripted-judge")


def _config(out: Path, chromium: str, **kw: Any) -> EvalConfig:
    defaults: dict[str, Any] = {"out_dir": out, "model": shop_agent, "judge": answer_judge(), "browser": chromium, "max_steps": 6}
    return EvalConfig(**{**defaults, **kw})


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


# --- the default set: one small paired run; settings checked before any browser starts ---------------------


async def test_paired_run_keeps_arms_apart_judges_with_screenshots_and_learns(tmp_path: Path, chromium: str) -> None:
    out = tmp_path / "run"
    tasks = with_answers(load_tasks(SAMPLE_TASKS)[:2], load_answers(SAMPLE_ANSWERS))
    judge = answer_judge()
    seen: list[tuple[str, str]] = []
    run = await evaluate(
        tasks, _config(out, chromium, judge=judge, concurrency=2), on_result=lambda r: seen.append((r.arm, r.task_id))
    )
    assert run.planned == 4 and run.skipped == 0

    rows = _rows(out)
    assert (
        sorted((r["arm"], r["task_id"]) for r in rows)
        == sorted(seen)
        == [
            ("baseline", "Acme Books--0"),
            ("baseline", "Acme Books--1"),
            ("coach", "Acme Books--0"),
            ("coach", "Acme Books--1"),
        ]
    )
    for r in rows:
        assert r["success"] is True and r["verdict"] is True and r["judge"] == "llm:scripted-judge"
        assert r["final_answer"] == ANSWERS[r["task_id"]] and r["judge_reason"] == f"The response says {ANSWERS[r['task_id']]!r}."
        assert r["steps"] == 4 and r["seconds"] > 0 and r["error"] is None
        assert r["order"] == int(r["task_id"][-1]) and r["start_url"].endswith("/shop/index.html")
        assert r["prompt_tokens"] is None  # a scripted model reports no usage
        assert r["reference"] == [f"golden: {ANSWERS[r['task_id']]}"]
        shots = [out / s for s in r["screenshots"]]
        assert len(shots) == 3 and all(s.read_bytes().startswith(b"\x89PNG") for s in shots)
        trajectory = load_trajectory(out / r["history"])
        assert trajectory.task == r["question"] and trajectory.final_answer == r["final_answer"]
    # the judge saw the task, the answer and exactly the kept screenshots
    assert len(judge.calls) == 4 and all(len(images) == 3 for images in judge.images)
    kept = {(out / s).read_bytes() for r in rows for s in r["screenshots"]}
    assert {i for images in judge.images for i in images} <= kept
    assert not any("golden" in system + prompt for system, prompt in judge.calls)  # reference answers never reach it

    by_key = {(r["arm"], r["task_id"]): r for r in rows}
    first, second = by_key[("coach", "Acme Books--0")], by_key[("coach", "Acme Books--1")]
    assert first["interventions"] == []  # memory starts empty
    assert second["interventions"] and second["interventions"][0]["episode_ids"] == [first["episode_id"]]
    assert all(
        not by_key[("baseline", t)]["interventions"] and by_key[("baseline", t)]["episode_id"] is None
        for t in GENRES
        if ("baseline", t) in by_key
    )
    # arms are isolated: only the coach arm has a store, it holds its own two runs labelled by the judge,
    # and the user's own store was never opened
    assert sorted(p.name for p in (out / "stores").iterdir()) == ["coach"]
    assert not (Path(os.environ["WEBCOACH_HOME"]) / "chroma").exists()
    with EpisodeStore(path=out / "stores" / "coach") as store:
        assert store.count() == 2
        stored = store.get(second["episode_id"])
        assert stored.outcome.value == "success" and stored.outcome_by == "judge"
        assert stored.trust == "judge" and stored.vouched_by == "judge:llm:scripted-judge"  # the judge this eval ran
        assert stored.task_id == second["task_id"]  # later runs of this task know it by id, whatever a date shift does
        assert store.get(first["episode_id"]).helped == 1  # its advice preceded a judged success


async def test_bad_settings_stop_before_any_run(tmp_path: Path, chromium: str) -> None:
    tasks = load_tasks(SAMPLE_TASKS)[:1]
    with pytest.raises(ConfigError, match="unknown arm"):
        await evaluate(tasks, _config(tmp_path / "a", chromium, arms=("baseline", "oracle")))
    with pytest.raises(ConfigError, match="frozen arm needs a memory"):
        await evaluate(tasks, _config(tmp_path / "a", chromium, arms=("frozen",)))
    with pytest.raises(InputError, match="no such script file"):
        await evaluate(tasks, _config(tmp_path / "a", chromium, model=f"scripted:{tmp_path / 'missing.json'}"))
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        await evaluate(tasks, _config(tmp_path / "a", chromium, model="anthropic:claude-sonnet-4-5"))
    assert not (tmp_path / "a" / "results.jsonl").exists()


async def test_a_harness_error_is_recorded_and_run_again_on_resume(tmp_path: Path, chromium: str) -> None:
    tasks = load_tasks(SAMPLE_TASKS)[:1]

    def broken(task: Task) -> Any:
        raise RuntimeError("provider unreachable")

    out = tmp_path / "run"
    run = await evaluate(tasks, _config(out, chromium, model=broken, arms=("baseline",)))
    (row,) = run.results
    assert row.error == "RuntimeError: provider unreachable" and row.success is False and row.verdict is None
    with pytest.raises(ConfigError, match=r"started with other settings \(model \"broken\" -> \"shop_agent\"\)"):
        await evaluate(tasks, _config(out, chromium, model=shop_agent, arms=("baseline",), resume=True))
    again = await evaluate(tasks, _config(out, chromium, model=broken, arms=("baseline",), resume=True))
    assert again.planned == 1 and again.skipped == 0  # an error row does not count as done
    assert len(read_results(out / "results.jsonl")) == 2


async def test_a_broken_setup_stops_the_run_after_errors_in_a_row(tmp_path: Path, chromium: str) -> None:
    def broken(task: Task) -> Any:
        raise RuntimeError("no API key")

    config = _config(tmp_path / "run", chromium, model=broken, arms=("baseline",), max_errors_in_a_row=2)
    with pytest.raises(WebcoachError, match=r"stopped: 2 runs in a row failed.*RuntimeError: no API key.*--resume"):
        await evaluate(load_tasks(SAMPLE_TASKS), config)
    assert len(read_results(tmp_path / "run" / "results.jsonl")) == 2  # of five tasks


# --- slow: resume after kills, MiniWoB++, shards, a frozen arm, browser-use's judge --------------------------


@pytest.mark.slow
async def test_resume_after_kills_runs_only_what_is_missing_and_restores_memory(tmp_path: Path, chromium: str) -> None:
    out = tmp_path / "run"
    tasks = load_tasks(SAMPLE_TASKS)[:3]
    config = _config(out, chromium, arms=("coach",))
    await evaluate(tasks, config)
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    first, lost, killed = (json.loads(line) for line in lines)
    with EpisodeStore(path=out / "stores" / "coach") as store:
        assert store.count() == 3  # every row's episode was stored before the row was written
        # Kill 1, between storing an episode and writing its row: the episode is in memory, the row cut short.
        # Kill 2 (or a memory server that lost data): a finished row cites an episode memory no longer has.
        assert store.forget(lost["episode_id"])
    (out / "results.jsonl").write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:60], encoding="utf-8")
    # The killed run left a browser profile, and a process using it, behind.
    leftover = out / "profiles" / "webcoach-profile-killed"
    (leftover / "profile").mkdir(parents=True)
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--user-data-dir={leftover / 'profile'}"])
    try:
        # Until the child has exec'd, /proc shows the parent's command line: wait for the one a leftover browser has.
        deadline = time.monotonic() + 20
        while str(leftover).encode() not in Path(f"/proc/{stray.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the stray process never started"
            time.sleep(0.05)
        with pytest.raises(ConfigError, match="already holds results: pass --resume"):
            await evaluate(tasks, config)
        again = await evaluate(tasks, _config(out, chromium, arms=("coach",), resume=True))
        ended = stray.wait(timeout=10)  # ended by the resume itself, not by the clean-up below
    finally:
        if stray.poll() is None:
            stray.kill()
    assert ended == -signal.SIGKILL  # the leftover process was ended, the profile removed
    assert again.cleaned == (1, 1) and not leftover.exists()
    assert again.restored == 1 and again.planned == 1 and again.skipped == 2
    (redone,) = again.results
    assert (redone.arm, redone.task_id) == ("coach", "Acme Books--2") and redone.verdict is False
    # the killed attempt's episode is in memory, but it is this task's own: kept from its coaching, and counted
    assert redone.excluded_episodes == [killed["episode_id"]]
    assert all(killed["episode_id"] not in a.episode_ids for a in redone.interventions)
    final = read_results(out / "results.jsonl")
    assert [r.task_id for r in final] == ["Acme Books--0", "Acme Books--1", "Acme Books--2"]  # the partial line is gone
    with EpisodeStore(path=out / "stores" / "coach") as store:
        assert store.contains(lost["episode_id"]) and store.contains(first["episode_id"])


def miniwob_agent(task: Task) -> ScriptedLLM:
    """Reads the instruction off the page and clicks what it names; on click-test-2--1 it clicks the wrong button."""

    def script(messages: list[Any], step: int) -> Any:
        if step > 0:
            return [{"done": {"text": "done", "success": True}}]
        prompt = prompt_text(messages)
        if task.site == "click-test-2":
            return [{"click": {"text": "TWO" if task.id.endswith("--1") else "ONE"}}]
        wanted = re.search(r'Click on the "([^"]+)" button', prompt)
        assert wanted is not None, "the instruction is on the page the agent sees"
        return [{"click": {"text": wanted.group(1)}}]

    return ScriptedLLM(script)


@pytest.mark.slow
async def test_miniwob_episodes_are_scored_by_their_own_reward(tmp_path: Path, chromium: str) -> None:
    tasks = miniwob_tasks(["click-test-2", "click-button"], episodes=2, seed=5)
    config = _config(
        tmp_path / "run", chromium, model=miniwob_agent, judge="reward", arms=("baseline",), site=build_site(tmp_path / "site")
    )
    await evaluate(tasks, config)
    rows = {r["task_id"]: r for r in _rows(tmp_path / "run")}
    assert set(rows) == {"click-test-2--0", "click-button--0", "click-test-2--1", "click-button--1"}
    for task_id in ("click-test-2--0", "click-button--0", "click-button--1"):
        assert rows[task_id]["success"] is True and 0.9 < rows[task_id]["reward"] <= 1.0
        assert rows[task_id]["judge"] == "miniwob-reward" and rows[task_id]["judge_reason"] == "raw reward 1"
        assert rows[task_id]["steps"] == 2  # the agent is stopped once the page has given its reward
    assert rows["click-test-2--1"]["success"] is False and rows["click-test-2--1"]["reward"] == -1


def _chromium_pids_under(folder: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(folder) in cmdline and "chrom" in cmdline:
                pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_ctrl_c_loses_no_finished_run_and_resume_completes_the_rest(tmp_path: Path) -> None:
    script = tmp_path / "agent.json"
    script.write_text(
        json.dumps(
            [[{"click": {"text": "Catalog"}}], [{"click": {"text": "History"}}], [{"done": {"text": "SPQR", "success": True}}]]
        )
    )
    out = tmp_path / "run"
    # Chromium puts its singleton socket under TMPDIR, and a socket path longer than ~107 bytes fails: keep it short.
    scratch = Path(tempfile.mkdtemp(prefix="wc-", dir="/tmp"))
    command = [sys.executable, "-m", "webcoach.cli", "eval", str(SAMPLE_TASKS), "--ids", IDS3, "--arms", "baseline,coach"]
    command += ["--model", f"scripted:{script}", "--judge", "agent", "--out", str(out)]
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not ((out / "results.jsonl").exists() and (out / "results.jsonl").read_text().count("\n") >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its first result"
            time.sleep(0.1)
        time.sleep(1.5)  # into the next run, mid-step
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "interrupted: finished runs are in" in output and "--resume" in output
    kept = read_results(out / "results.jsonl")
    assert 1 <= len(kept) < 6
    assert all(r.final_answer == "SPQR" and r.steps == 4 for r in kept)  # an interrupted run is not written as a result
    leftovers = _chromium_pids_under(scratch) + _chromium_pids_under(out / "profiles")
    for pid in leftovers:  # ours: clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert leftovers == [], "Ctrl-C left browsers running"

    done = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=180)
    shutil.rmtree(scratch, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    final = read_results(out / "results.jsonl")
    assert len(final) == 6 and len({r.key for r in final}) == 6
    assert [r.key for r in final[: len(kept)]] == [r.key for r in kept]  # nothing finished was run twice


@pytest.mark.slow
def test_shards_split_the_tasks_and_the_report_merges_them(tmp_path: Path, chromium: str) -> None:
    script = tmp_path / "agent.json"
    script.write_text(json.dumps([[{"done": {"text": "Foundation, $7.25", "success": True}}]]))
    runner = CliRunner()
    for shard in ("1/2", "2/2"):
        result = runner.invoke(
            app,
            [
                "eval",
                str(SAMPLE_TASKS),
                "--ids",
                IDS3,
                "--arms",
                "baseline",
                "--model",
                f"scripted:{script}",
                "--judge",
                "agent",
                "--shard",
                shard,
                "--out",
                str(tmp_path / shard.replace("/", "-of-")),
                "--browser",
                chromium,
                *(["--json"] if shard == "2/2" else []),
            ],
        )
        assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # --json: only the summary on stdout, no progress
    assert (summary["runs"], summary["arms"]["baseline"]["runs"], summary["outages"]) == (1, 1, 0)
    one, two = (read_results(tmp_path / name / "results.jsonl") for name in ("1-of-2", "2-of-2"))
    assert [r.task_id for r in one] == ["Acme Books--0", "Acme Books--2"] and [r.task_id for r in two] == ["Acme Books--1"]
    assert [r.order for r in one + two] == [0, 2, 1]  # positions in the whole selection
    report = runner.invoke(app, ["report", str(tmp_path / "1-of-2"), str(tmp_path / "2-of-2"), "--no-plots", "--json"])
    assert json.loads(report.output)["arms"][0]["n"] == 3


@pytest.mark.slow
async def test_frozen_arm_reads_memory_and_never_writes_it(tmp_path: Path, chromium: str) -> None:
    tasks = load_tasks(SAMPLE_TASKS)
    await evaluate(tasks[:1], _config(tmp_path / "first", chromium, arms=("coach",)))
    memory = tmp_path / "memory.jsonl"
    with EpisodeStore(path=tmp_path / "first" / "stores" / "coach") as store:
        assert store.export(memory) == 1

    out = tmp_path / "second"
    await evaluate(tasks[1:3], _config(out, chromium, arms=("coach", "frozen"), memory=memory))
    # Imported memory is stored under an id derived from its content (a file cannot choose ids): the one cited below.
    with EpisodeStore(path=out / "stores" / "frozen") as store:
        (remembered,) = [e.id for e in store.list()]
    rows = _rows(out)
    frozen = [r for r in rows if r["arm"] == "frozen"]
    assert len(frozen) == 2 and all(r["episode_id"] is None for r in frozen)
    assert all(remembered in a["episode_ids"] for r in frozen for a in r["interventions"][:1])
    with EpisodeStore(path=out / "stores" / "frozen") as store:
        assert [e.id for e in store.list()] == [remembered] and store.get(remembered).helped == 0
    with EpisodeStore(path=out / "stores" / "coach") as store:
        assert store.count() == 3  # the memory it started from, and its own two runs


@pytest.mark.slow
async def test_browser_use_builtin_judge(tmp_path: Path, chromium: str) -> None:
    verdict = {
        "reasoning": "No deal is shown.",
        "verdict": False,
        "failure_reason": "The deals page never loads.",
        "impossible_task": True,
    }
    judge = BrowserUseJudge(ScriptedLLM([], structured={"JudgementResult": verdict}))
    task = select(load_tasks(SAMPLE_TASKS), ids=["Acme Books--3"])
    agent: Callable[[Task], ScriptedLLM] = lambda t: ScriptedLLM(  # noqa: E731
        [[{"click": {"text": "Deals"}}], [{"done": {"text": "The deals never load.", "success": True}}]]
    )
    run = await evaluate(task, _config(tmp_path / "run", chromium, model=agent, judge=judge, arms=("baseline",)))
    (row,) = run.results
    assert row.claimed_success is True and row.success is False and row.verdict is False
    assert row.judge_reason == "The deals page never loads. (judged impossible)"


def test_eval_command_needs_a_task_file_or_a_suite(tmp_path: Path) -> None:
    runner = CliRunner()
    neither = runner.invoke(app, ["eval", "--out", str(tmp_path / "x")])
    assert neither.exit_code == 1 and "error: give a task file or --suite miniwob / webvoyager" in neither.output
    unknown = runner.invoke(app, ["eval", "--suite", "webarena"])
    assert unknown.exit_code == 1 and "unknown suite 'webarena'" in unknown.output
    bad_shard = runner.invoke(app, ["eval", str(SAMPLE_TASKS), "--shard", "3/2", "--model", "scripted:x.json"])
    assert bad_shard.exit_code == 1 and "error: shard '3/2' is not valid" in bad_shard.output


@pytest.mark.slow
def test_eval_command_runs_the_miniwob_suite(tmp_path: Path, chromium: str) -> None:
    script = tmp_path / "agent.json"
    script.write_text(json.dumps([[{"click": {"text": "ONE"}}], [{"done": {"text": "clicked", "success": True}}]]))
    out = tmp_path / "run"
    args = ["eval", "--suite", "miniwob", "--tasks", "click-test-2", "--episodes", "2", "--arms", "baseline"]
    result = CliRunner().invoke(app, [*args, "--model", f"scripted:{script}", "--out", str(out), "--browser", chromium])
    assert result.exit_code == 0, result.output
    assert "2 runs added" in result.output and "baseline: 2/2 succeeded" in result.output
    assert [(r.task_id, r.judge, r.success) for r in read_results(out / "results.jsonl")] == [
        ("click-test-2--0", "miniwob-reward", True),
        ("click-test-2--1", "miniwob-reward", True),
    ]


@pytest.mark.slow
async def test_shards_on_one_chroma_server_share_the_coach_arms_memory(
    tmp_path: Path, chromium: str, chroma_server: tuple[str, object]
) -> None:
    url, _ = chroma_server
    tasks = load_tasks(SAMPLE_TASKS)[:2]
    for i in (1, 2):  # two machines, each its own --out, one server and one --run-name
        config = _config(tmp_path / f"shard-{i}", chromium, shard=(i, 2), chroma_url=url, run_name="bench-1", embedder="hashing")
        await evaluate(tasks, config)
    second = read_results(tmp_path / "shard-2" / "results.jsonl")
    coach = next(r for r in second if r.arm == "coach")
    first_episode = next(r for r in read_results(tmp_path / "shard-1" / "results.jsonl") if r.arm == "coach").episode_id
    assert coach.interventions and coach.interventions[0].episode_ids == [first_episode]  # learnt on the other machine
    with EpisodeStore(url=url, namespace="eval-bench-1-coach") as store:
        assert store.count() == 2
    assert not (tmp_path / "shard-1" / "stores").exists()  # nothing embedded when a server is used


@pytest.mark.slow
async def test_memory_of_the_same_tasks_never_hands_over_answers_and_local_routes_survive_a_new_port(
    tmp_path: Path, chromium: str
) -> None:
    tasks = load_tasks(SAMPLE_TASKS)[:2]
    first = tmp_path / "first"
    await evaluate(tasks, _config(first, chromium, arms=("coach",)))
    old_port = json.loads((first / "run.json").read_text())["site_port"]
    memory = tmp_path / "memory.jsonl"
    with EpisodeStore(path=first / "stores" / "coach") as store:
        assert store.export(memory) == 2
    assert f"127.0.0.1:{old_port}" in memory.read_text()

    # Another run (another name, so another port) of the same tasks, coached from that memory.
    second = tmp_path / "again"
    run = await evaluate(tasks, _config(second, chromium, arms=("frozen",), memory=memory))
    new_port = json.loads((second / "run.json").read_text())["site_port"]
    assert new_port != old_port
    by_task = {r.task_id: r for r in run.results}
    # Imported episodes are stored under ids derived from their (port-moved) content: read them from the arm's store.
    with EpisodeStore(path=second / "stores" / "frozen") as store:
        remembered = {e.task: e.id for e in store.list()}
    for task in tasks:
        row = by_task[task.id]
        own = remembered[task.question]
        assert row.excluded_episodes == [own]  # its own earlier run was in memory, and kept out
        cited = {i for a in row.interventions for i in a.episode_ids}
        assert own not in cited and all(ANSWERS[task.id] not in a.text for a in row.interventions)
        # routes name this run's port, and a page on the remembered route is not called off it
        assert all(f":{old_port}" not in a.text and "catalog.html, off that route" not in a.text for a in row.interventions)
    # the other task's episode still coaches (it is not this task's), at this run's address
    assert by_task["Acme Books--1"].interventions[0].episode_ids == [remembered[tasks[0].question]]
    with EpisodeStore(path=second / "stores" / "frozen") as store:
        starts = {e.start_url for e in store.list()}
    assert starts and all(s and s.startswith(f"http://127.0.0.1:{new_port}/") for s in starts)
    report, _ = write_report([second], plots=False)
    assert next(a for a in report.arms if a.arm == "frozen").excluded == 2

    # --resume serves on the same port again, so the routes the coach arm stored still lead somewhere
    await evaluate(tasks, _config(first, chromium, arms=("coach",), resume=True))
    assert json.loads((first / "run.json").read_text())["site_port"] == old_port


@pytest.mark.slow
def test_sigkill_mid_run_leaves_browsers_that_resume_ends_and_memory_that_resume_keeps(tmp_path: Path) -> None:
    script = tmp_path / "agent.json"
    script.write_text(
        json.dumps(
            [[{"click": {"text": "Catalog"}}], [{"click": {"text": "History"}}], [{"done": {"text": "SPQR", "success": True}}]]
        )
    )
    out = tmp_path / "run"
    scratch = Path(tempfile.mkdtemp(prefix="wc-", dir="/tmp"))  # Chromium's socket path must stay short
    command = [sys.executable, "-m", "webcoach.cli", "eval", str(SAMPLE_TASKS), "--ids", IDS3, "--arms", "coach"]
    command += ["--model", f"scripted:{script}", "--judge", "agent", "--out", str(out)]
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browsers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not ((out / "results.jsonl").exists() and (out / "results.jsonl").read_text().count("\n") >= 1 and browsers):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the kill"
            time.sleep(0.1)
            if (out / "results.jsonl").exists() and (out / "results.jsonl").read_text().count("\n") >= 1:
                browsers = _chromium_pids_under(out / "profiles")  # the second task's browser is up
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(0.5)
        left = _chromium_pids_under(out / "profiles")
        assert left, "a SIGKILL leaves the running task's browser behind"
        kept = read_results(out / "results.jsonl")
        done = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "cleaned up after a killed run" in done.stderr
        assert _chromium_pids_under(out / "profiles") == [] and list((out / "profiles").iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _chromium_pids_under(out / "profiles") + _chromium_pids_under(scratch):  # ours: never leave them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)
    final = read_results(out / "results.jsonl")
    assert [r.task_id for r in final[: len(kept)]] == [r.task_id for r in kept] and len(final) == 3
    with EpisodeStore(path=out / "stores" / "coach") as store:
        assert all(r.episode_id is not None and store.contains(r.episode_id) for r in final)
