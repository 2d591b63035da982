"""results.jsonl: one line per finished (arm, task), appended and fsynced as each task ends, so a crash or Ctrl-C loses
at most the tasks still running. A line cut short by a kill is ignored when read and cut off before the next append."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from webcoach.errors import InputError

RESULTS_FILE = "results.jsonl"


class Intervention(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    episode_ids: list[str] = Field(default_factory=list)
    trigger: str
    step: int | None = None
    confidence: float = 0.0


class RoleUsage(BaseModel):
    """LLM use of one role (agent, coach, condenser, judge) in one run. Cost in USD only where it is known."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


class TaskResult(BaseModel):
    """One arm's run of one task. `success` is the judge's verdict, with "could not say" (verdict None) and harness
    errors counted as failures; `verdict` keeps the difference (and the report trusts only `verdict is True`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    arm: str
    task_id: str
    site: str
    order: int  # position in the whole selection (before sharding): the x axis of learning curves
    question: str
    start_url: str
    success: bool
    verdict: bool | None
    judge: str
    judge_reason: str
    judge_raw: str | None = None  # the judge's whole answer (LLM judges), for audits
    repeat: int = 0  # which of --repeats runs of this (arm, task)
    reward: float | None = None
    claimed_success: bool | None = None
    final_answer: str | None = None
    reference: list[str] = Field(default_factory=list)  # the task's reference answers ("golden: ..."), never shown to the judge
    steps: int = 0
    seconds: float = 0.0  # wall time of the agent run, judge excluded
    judge_seconds: float = 0.0
    prompt_tokens: int | None = None  # None: the provider reported no usage
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None  # USD, when cost calculation was on
    interventions: list[Intervention] = Field(default_factory=list)
    episode_id: str | None = None  # this run as stored in the arm's memory (coach arm only)
    excluded_episodes: list[str] = Field(default_factory=list)  # the task's own earlier runs, kept from its coaching
    failure_kinds: list[str] = Field(default_factory=list)  # the condensed run's failure modes (error, loop, dead_end, ...)
    usage: dict[str, RoleUsage] = Field(default_factory=dict)  # role -> LLM use
    history: str | None = None  # relative to the output folder
    screenshots: list[str] = Field(default_factory=list)  # relative to the output folder, oldest first
    error: str | None = None  # the harness failed (browser, provider): --resume runs the task again
    outage: str | None = None  # the site was down (health check, or the start page never loaded): out of every rate
    final_url: str | None = None  # the page the run ended on
    off_site: bool | None = None  # it ended off the task's site (on a page the agent chose)
    time_limited: bool = False  # stopped by the per-task time limit (a failure, not an error)
    model: str = ""
    finished_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.arm, self.task_id, self.repeat)

    @property
    def judged_success(self) -> bool:
        """A success only with a verdict that says so: a row with no verdict never counts, whatever `success` says."""
        return self.verdict is True and self.error is None and self.outage is None

    @property
    def counted(self) -> bool:
        """Neither a harness error nor an outage: a run that says something about the agent."""
        return self.error is None and self.outage is None


def results_path(out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / RESULTS_FILE


def read_results(path: str | os.PathLike[str]) -> list[TaskResult]:
    """Every complete line, in file order. A cut-off last line (a killed run) is skipped; any other bad line is an error."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{source}: no such file (an eval run writes results.jsonl into its --out folder)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {source}: {exc}") from exc
    lines = text.split("\n")
    results: list[TaskResult] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            results.append(TaskResult.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            if number == len(lines):  # no newline after it: the write was cut short
                break
            what = exc.msg if isinstance(exc, json.JSONDecodeError) else f"{exc.error_count()} invalid field(s)"
            raise InputError(f"{source} line {number} is not a task result ({what}): fix or delete that line") from None
    return results


def cut_partial_line(path: Path) -> bool:
    """Remove a last line without its newline (left by a killed run); True when there was one."""
    if not path.exists():
        return False
    with path.open("rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return False
        f.truncate(data.rfind(b"\n") + 1)
    return True


def append_result(path: Path, result: TaskResult) -> None:
    """One whole line per write, flushed and fsynced before the next task's result."""
    line = result.model_dump_json() + "\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def latest(results: Iterable[TaskResult]) -> list[TaskResult]:
    """The latest result per (arm, task, repeat) by finish time (whatever file or folder it came from), sorted by task
    order, repeat and arm: a task run again after an error replaces its error row."""
    by_key: dict[tuple[str, str, int], TaskResult] = {}
    for result in results:
        kept = by_key.get(result.key)
        if kept is None or result.finished_at >= kept.finished_at:
            by_key[result.key] = result
    return sorted(by_key.values(), key=lambda r: (r.order, r.repeat, r.arm))


def finished(results: Sequence[TaskResult]) -> set[tuple[str, str, int]]:
    """(arm, task id, repeat) keys that --resume skips: those whose latest result is neither a harness error nor an
    outage (the site may be back)."""
    return {r.key for r in latest(results) if r.counted}
