"""The bundled WebVoyager task set (643 tasks on 15 live sites, Apache-2.0, from github.com/MinorJerry/WebVoyager) and
its reference answers, and the dates its questions name.

Many Booking, Google Flights and other questions name dates from late 2023 / early 2024 ("from January 10, 2024"): on
the live sites those are in the past, so the task cannot be done as written. `stale_tasks` finds them;
`shift_dates` moves each such question's dates forward by whole years until none has passed (weekdays change, the
month and day stay), which is what `--date-shift auto` does; `--date-shift N` moves every dated question by N years.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from webcoach.tasks.taskset import DATA_DIR, Task

WEBVOYAGER_DIR = DATA_DIR / "webvoyager"
WEBVOYAGER_TASKS = WEBVOYAGER_DIR / "WebVoyager_data.jsonl"
WEBVOYAGER_ANSWERS = WEBVOYAGER_DIR / "reference_answer.json"

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>20\d\d)"
# "January 10, 2024", "Jan 10th 2024", "10 January 2024", "8th of March, 2024"
_DATED = re.compile(
    rf"\b(?:{_MONTH}\s+{_DAY},?\s+{_YEAR}|{_DAY.replace('day>', 'day2>')}\s+(?:of\s+)?{_MONTH.replace('month>', 'month2>')},?\s+{_YEAR.replace('year>', 'year2>')})\b",
    re.IGNORECASE,
)


def _dates(text: str) -> list[tuple[date, int, int]]:
    """(date, start, end of the year digits) for each full date in `text`."""
    found = []
    for m in _DATED.finditer(text):
        month = _MONTHS[(m.group("month") or m.group("month2")).lower()]
        day = int(m.group("day") or m.group("day2"))
        group = "year" if m.group("year") else "year2"
        year = int(m.group(group))
        if 1 <= day <= 31:
            found.append((date(year, month, min(day, 28)), m.start(group), m.end(group)))
    return found


def stale_tasks(tasks: Sequence[Task], today: date | None = None) -> list[Task]:
    """Tasks whose question names a full date that has passed."""
    today = today or date.today()
    return [t for t in tasks if any(d < today for d, _, _ in _dates(t.question))]


def shift_dates(tasks: Sequence[Task], years: int | None = None, today: date | None = None) -> tuple[list[Task], int]:
    """Move the years of the dates in each question: by `years`, or (None) by the fewest whole years that put every
    date of that question on or after `today`. Returns the tasks and how many changed."""
    today = today or date.today()
    out: list[Task] = []
    changed = 0
    for task in tasks:
        found = _dates(task.question)
        shift = years if years is not None else _years_needed([d for d, _, _ in found], today)
        if not found or not shift:
            out.append(task)
            continue
        text = task.question
        for _, start, end in sorted(found, key=lambda f: f[1], reverse=True):
            text = text[:start] + str(int(text[start:end]) + shift) + text[end:]
        out.append(replace(task, question=text))
        changed += 1
    return out, changed


def _years_needed(dates: Sequence[date], today: date) -> int:
    if not dates:
        return 0
    shift = 0
    while min(d.replace(year=d.year + shift) for d in dates) < today:
        shift += 1
    return shift
