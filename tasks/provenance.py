"""Which runs a report is built from, and whether they belong together: each folder's run.json (model, judge, task
source, selection, seeds, max steps, dates, webcoach version), the runs each planned, and a refusal to merge runs
that are not one benchmark (another model, judge, task source, ...) unless the reader asks for it, then flagged."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webcoach.errors import ConfigError
from webcoach.tasks.eval_state import read_manifest

# What makes two folders parts of one benchmark (shards may differ in their tasks, arms and dates).
MERGE_KEYS = (
    "model",
    "base_url",
    "judge",
    "task_source",
    "max_steps",
    "repeats",
    "condenser_llm",
    "coach_llm",
    "exclude_same_task",
    "allow_scripts",
    "coach_config",
    "judge_config",
    "agent_decoding",
    "time_limit_s",
    "memory_snapshot",
)


@dataclass(kw_only=True)
class Provenance:
    runs: list[tuple[str, dict[str, Any] | None]]  # (folder, its run.json)
    planned: dict[str, int] = field(default_factory=dict)  # arm -> runs planned over every folder
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[tuple[str, str]]:
        """(field, value) rows: one value per folder when they differ."""
        rows: list[tuple[str, str]] = [("folders", ", ".join(d for d, _ in self.runs))]
        for label, key in (
            ("webcoach", "webcoach_version"),
            ("agent model", "model"),
            ("base URL", "base_url"),
            ("judge", "judge"),
            ("judge prompt sha256", "judge_prompt_sha256"),
            ("judge temperature", "judge_temperature"),
            ("agent decoding", "agent_decoding"),
            ("condenser LLM", "condenser_llm"),
            ("coach LLM", "coach_llm"),
            ("task source", "task_source"),
            ("selection", "selection"),
            ("shard", "shard"),
            ("arms", "arms"),
            ("repeats", "repeats"),
            ("max steps", "max_steps"),
            ("LLM seed", "seed"),
            ("order seed", "order_seed"),
            ("same-task episodes excluded", "exclude_same_task"),
            ("memory snapshot", "memory_snapshot"),
            ("embedder", "embedder_used"),
            ("coach", "coach_config"),
            ("time limit (s)", "time_limit_s"),
            ("health check", "health_check"),
            ("concurrency", "concurrency"),
            ("code revision", "code_revision"),
            ("packages", "packages"),
            ("browser", "browser_version"),
            ("scripted model", "scripted_model"),
            ("answers file", "answers_file"),
            ("started", "started_at"),
            ("finished", "finished_at"),
        ):
            values = list(dict.fromkeys(_show(_get(m, key)) if m else "?" for _, m in self.runs))
            rows.append((label, " | ".join(values)))
        return rows


def _get(manifest: dict[str, Any], key: str) -> Any:
    judge = manifest.get("judge_config") or {}
    if key == "judge_prompt_sha256":
        return judge.get("prompt_sha256")
    if key == "judge_temperature":
        return judge.get("temperature")
    return manifest.get(key)


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items() if v is not None) or "all"
    if isinstance(value, list):
        return "/".join(map(str, value))
    return str(value)


def load_provenance(dirs: Sequence[str | os.PathLike[str]], *, allow_mixed: bool = False) -> Provenance:
    runs = [(str(d), read_manifest(Path(d))) for d in dirs]
    prov = Provenance(runs=runs)
    for folder, manifest in runs:
        if manifest is None:
            prov.warnings.append(f"{folder} has no run.json: its model, judge, task source and plan are unknown")
    known = [(d, m) for d, m in runs if m is not None]
    for key in MERGE_KEYS:
        values = {_show(m.get(key)) for _, m in known}
        if len(values) > 1:
            what = "; ".join(f"{d}: {_show(m.get(key))}" for d, m in known)
            if not allow_mixed:
                raise ConfigError(
                    f"these runs differ in {key} ({what}): they are not one benchmark; report them apart, "
                    "or pass --allow-mixed to merge them anyway"
                )
            prov.warnings.append(f"MIXED RUNS: {key} differs ({what})")
    units: dict[str, set[tuple[str, int]]] = {}
    for _, m in known:
        for arm in m.get("arms") or []:
            units.setdefault(arm, set()).update((t, r) for t in m.get("tasks") or [] for r in range(int(m.get("repeats") or 1)))
    prov.planned = {arm: len(u) for arm, u in units.items()}
    return prov
