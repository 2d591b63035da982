"""Judge-human agreement: `--judge-sample N` writes OUT/judge-sample/sheet.csv (and sheet.html, with the screenshots)
for a person to label; `webcoach report` compares the labels with the judge's verdicts (WebVoyager reports 85.3%
agreement between its GPT-4V judge and people).

Fill the `human` column with success or failure (yes/no, 1/0 and pass/fail work too); leave a row empty to skip it."""

from __future__ import annotations

import base64
import csv
import html
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from webcoach.tasks.results import TaskResult, latest, read_results, results_path

SHEET = Path("judge-sample") / "sheet.csv"
COLUMNS = ["arm", "task_id", "repeat", "question", "final_answer", "screenshots", "judge_verdict", "judge_reason", "human"]
_YES = {"success", "yes", "y", "1", "true", "pass", "s"}
_NO = {"failure", "no", "n", "0", "false", "fail", "f"}


def _verdict(value: bool | None) -> str:
    return {True: "success", False: "failure", None: "unknown"}[value]


def write_sheet(out_dir: Path, n: int, *, seed: int = 0) -> Path | None:
    """A random sample (fixed by `seed`) of n judged runs; a sheet that already holds labels is never overwritten."""
    path = out_dir / SHEET
    if path.exists() and any(row.get("human", "").strip() for row in _rows(path)):
        return path
    rows = [r for r in latest(read_results(results_path(out_dir))) if r.counted]  # outages were never judged
    chosen = sorted(random.Random(seed).sample(rows, min(n, len(rows))), key=lambda r: (r.order, r.repeat, r.arm))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in chosen:
            answer = r.final_answer or ""
            writer.writerow(
                [r.arm, r.task_id, r.repeat, r.question, answer, " ".join(r.screenshots), _verdict(r.verdict), r.judge_reason, ""]
            )
    _page(out_dir, chosen)
    return path


def _page(out_dir: Path, rows: Sequence[TaskResult]) -> None:
    parts = ["<!doctype html><meta charset='utf-8'><title>judge sample</title><h1>Runs to label</h1>"]
    parts.append("<p>Label each run in sheet.csv's <code>human</code> column: success or failure.</p>")
    for r in rows:
        parts.append(f"<h2>{html.escape(r.task_id)} ({html.escape(r.arm)}, repeat {r.repeat})</h2>")
        parts.append(f"<p><b>Task:</b> {html.escape(r.question)}<br><b>Answer:</b> {html.escape(r.final_answer or '(none)')}")
        parts.append(f"<br><b>Judge:</b> {_verdict(r.verdict)}: {html.escape(r.judge_reason)}</p>")
        for shot in r.screenshots:
            data = (out_dir / shot).read_bytes() if (out_dir / shot).is_file() else b""
            if data:
                parts.append(f"<img style='max-width:45%' src='data:image/png;base64,{base64.b64encode(data).decode()}'>")
    (out_dir / SHEET).with_suffix(".html").write_text("\n".join(parts), encoding="utf-8")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@dataclass(frozen=True, kw_only=True)
class Agreement:
    labelled: int
    agree: int

    @property
    def rate(self) -> float:
        return self.agree / self.labelled if self.labelled else 0.0


def agreement(dirs: Sequence[str | os.PathLike[str]]) -> Agreement | None:
    """Judge-human agreement over every labelled row of the folders' sheets (a judge's 'unknown' counts as failure,
    as it does in every rate); None when nothing is labelled."""
    labelled = agree = 0
    for d in dirs:
        path = Path(d) / SHEET
        if not path.is_file():
            continue
        for row in _rows(path):
            label = row.get("human", "").strip().lower()
            if label not in _YES | _NO:
                continue
            labelled += 1
            agree += (row.get("judge_verdict") == "success") == (label in _YES)
    return Agreement(labelled=labelled, agree=agree) if labelled else None
