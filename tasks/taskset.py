"""Task sets for eval runs: the WebVoyager JSONL format, its reference answers, filters, limits and shards.

A task file has one JSON object per line, WebVoyager's shape::

    {"web_name": "Allrecipes", "id": "Allrecipes--0", "ques": "Provide a recipe for ...", "web": "https://www.allrecipes.com/"}

The public WebVoyager set (643 tasks on 15 live sites) and its reference answers are in the WebVoyager repository
(github.com/MinorJerry/WebVoyager, data/); fetch them with::

    curl -LO https://raw.githubusercontent.com/MinorJerry/WebVoyager/main/data/WebVoyager_data.jsonl
    curl -LO https://raw.githubusercontent.com/MinorJerry/WebVoyager/main/data/reference_answer.json

Booking and Google Flights tasks name dates that may have passed: update them before a run. A `web` URL may hold the
placeholder `{site}`, replaced at run time by the base URL of a locally served site (the bundled sample file,
tasks/data/shop_tasks.jsonl, points at the local shop this way, so it runs offline).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from webcoach.errors import ConfigError, InputError

DATA_DIR = Path(__file__).parent / "data"
SAMPLE_TASKS = DATA_DIR / "shop_tasks.jsonl"
SAMPLE_ANSWERS = DATA_DIR / "shop_answers.json"
SITE_PLACEHOLDER = "{site}"
WEBVOYAGER_URL = "https://raw.githubusercontent.com/MinorJerry/WebVoyager/main/data/WebVoyager_data.jsonl"
WEBVOYAGER_ANSWERS_URL = "https://raw.githubusercontent.com/MinorJerry/WebVoyager/main/data/reference_answer.json"

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class ReferenceAnswer:
    kind: Literal["golden", "possible"]  # golden: the one right answer; possible: one acceptable answer of many
    answer: str


@dataclass(frozen=True, kw_only=True)
class Task:
    """One benchmark task. `site` is WebVoyager's web_name (a MiniWoB task name for that suite)."""

    id: str
    site: str
    question: str
    start_url: str
    answers: tuple[ReferenceAnswer, ...] = field(default_factory=tuple)

    def url(self, base: str | None) -> str:
        """The start URL with `{site}` replaced by `base` (the served local site)."""
        if SITE_PLACEHOLDER not in self.start_url:
            return self.start_url
        if base is None:
            raise ConfigError(f"task {self.id} starts at {self.start_url}: it needs a locally served site for {SITE_PLACEHOLDER}")
        return self.start_url.replace(SITE_PLACEHOLDER, base.rstrip("/"))

    @property
    def local(self) -> bool:
        return SITE_PLACEHOLDER in self.start_url


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such task file (fetch WebVoyager's with: curl -LO {WEBVOYAGER_URL})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc


def _field(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: field {key!r} is missing or not a non-empty string (a task line has web_name, id, ques, web)")
    return value.strip()


def load_tasks(path: str | Path) -> list[Task]:
    """Every task of a WebVoyager-shaped JSONL file, in file order. A bad line raises InputError naming file and line."""
    source = Path(path)
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(_read_lines(source), start=1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(data, dict):
            raise InputError(f"{where} is not a JSON object")
        task = Task(
            id=_field(data, "id", where),
            site=_field(data, "web_name", where),
            question=_field(data, "ques", where),
            start_url=_field(data, "web", where),
        )
        if task.id in seen:
            raise InputError(f"{where}: task id {task.id!r} already used on line {seen[task.id]} (ids must be unique)")
        seen[task.id] = number
        tasks.append(task)
    if not tasks:
        raise InputError(f"{source} holds no tasks")
    return tasks


def load_answers(path: str | Path) -> dict[str, tuple[ReferenceAnswer, ...]]:
    """WebVoyager's reference-answer file -> {task id: answers}; the answer with id N of site S belongs to task 'S--N'."""
    source = Path(path)
    try:
        data = json.loads("\n".join(_read_lines(source)))
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InputError(f'{source}: expected {{"<web_name>": {{"answers": [...]}}}}')
    out: dict[str, tuple[ReferenceAnswer, ...]] = {}
    for site, entry in data.items():
        answers = entry.get("answers") if isinstance(entry, dict) else None
        if not isinstance(answers, list):
            raise InputError(f"{source}: site {site!r} has no 'answers' list")
        for position, item in enumerate(answers):
            if not isinstance(item, dict) or "id" not in item or not isinstance(item.get("ans"), str):
                raise InputError(f"{source}: answer {position} of site {site!r} needs 'id' and 'ans'")
            kind: Literal["golden", "possible"] = "golden" if item.get("type") == "golden" else "possible"
            key = f"{site}--{item['id']}"
            out[key] = (*out.get(key, ()), ReferenceAnswer(kind=kind, answer=item["ans"]))
    return out


def with_answers(tasks: Iterable[Task], answers: dict[str, tuple[ReferenceAnswer, ...]]) -> list[Task]:
    return [replace(t, answers=answers.get(t.id, t.answers)) for t in tasks]


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/8' -> (2, 8): the second of eight shards (1-based)."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not found:
        raise ConfigError(f"shard {spec!r} is not valid: use I/N, e.g. 2/8 (the second of eight)")
    index, count = int(found.group(1)), int(found.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ConfigError(f"shard {spec!r} is not valid: I must be between 1 and N")
    return index, count


def select(
    tasks: Sequence[Task],
    *,
    sites: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[Task]:
    """Filter by site (web_name, case-insensitive) and id, then sample `limit` of them: each site's tasks shuffled
    with `seed`, then taken from the sites in turn (so every site selected gets its share, however the file is
    ordered); the sample keeps file order."""
    chosen = list(tasks)
    if sites is not None:
        wanted = {s.strip().lower() for s in sites if s.strip()}
        unknown = sorted(wanted - {t.site.lower() for t in chosen})
        if unknown:
            known = ", ".join(sorted({t.site for t in tasks}))
            raise ConfigError(f"no tasks for site(s) {', '.join(unknown)}: the sites are {known}")
        chosen = [t for t in chosen if t.site.lower() in wanted]
    if ids is not None:
        wanted_ids = {i.strip() for i in ids if i.strip()}
        missing = sorted(wanted_ids - {t.id for t in chosen})
        if missing:
            raise ConfigError(f"no task with id {', '.join(missing)} in the selection")
        chosen = [t for t in chosen if t.id in wanted_ids]
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be at least 1, not {limit}")
        chosen = stratified_sample(chosen, limit, seed)
    return chosen


def stratified_sample(tasks: Sequence[Task], limit: int, seed: int = 0) -> list[Task]:
    """`limit` tasks spread over the sites as evenly as they allow (a site with few tasks gives all it has), each
    site's own shuffled with `seed`; in file order."""
    if limit >= len(tasks):
        return list(tasks)
    rng = random.Random(seed)
    by_site: dict[str, list[Task]] = {}
    for t in tasks:
        by_site.setdefault(t.site, []).append(t)
    queues = []
    for site in sorted(by_site):
        pool = list(by_site[site])
        rng.shuffle(pool)
        queues.append(pool)
    picked: set[str] = set()
    while len(picked) < limit:
        for pool in queues:
            if pool and len(picked) < limit:
                picked.add(pool.pop().id)
    return [t for t in tasks if t.id in picked]


def take_shard(tasks: Sequence[T], shard: tuple[int, int] | None) -> list[T]:
    """Shard (i, n): every n-th task from the i-th on. The n shards of one selection cover it exactly once, each in
    the selection's order, and each gets tasks from every part of the file (a site's tasks are spread over shards)."""
    if shard is None:
        return list(tasks)
    index, count = shard
    return list(tasks[index - 1 :: count])
