"""The `webcoach` command: a thin layer over the library. Errors are one line on stderr and a non-zero exit code.

Longer than the 400-line guide on purpose: it holds only typer option declarations (with their help texts) and the
printing of results for every command; each command's work is one call into the library (memory.ingest, coach.Coach,
hooks.runner, tasks.*). Splitting it would scatter the one file a user-facing change should touch.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from webcoach.errors import WebcoachError

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.condenser.episode import Episode
    from webcoach.condenser.trajectory import Step
    from webcoach.hooks.runner import StepEvent
    from webcoach.memory.ingest import IngestResult
    from webcoach.memory.ranking import Hit
    from webcoach.memory.store import EpisodeStore

app = typer.Typer(
    name="webcoach",
    help="Cross-session memory for browser agents: condense past runs into episodes, search them, coach new runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
memory_app = typer.Typer(help="Inspect and manage the episode store.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"webcoach {version('webcoach')}")
        raise typer.Exit()


QUIET = {"on": False}  # -q: no progress bars, no warnings (errors still print)
_VERBOSE = logging.StreamHandler(sys.stderr)
_VERBOSE.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings; errors and results only.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="Say more on stderr (-vv: debug detail).")] = 0,
) -> None:
    """Cross-session memory for browser agents: condense past runs into episodes, search them, coach new runs."""
    # The CLI is the host program here, so it may set up webcoach's own logger (the library never does); undone when
    # the command ends, so a program that calls the CLI in-process keeps its logging as it was.
    logger = logging.getLogger("webcoach")
    level = logger.level
    QUIET["on"] = quiet
    if quiet:
        logger.setLevel(logging.ERROR)
    elif verbose:
        logger.addHandler(_VERBOSE)
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)

    def restore() -> None:
        QUIET["on"] = False
        logger.removeHandler(_VERBOSE)
        logger.setLevel(level)

    ctx.call_on_close(restore)


Home = Annotated[
    Path | None, typer.Option("--home", help="Data directory (default: $WEBCOACH_HOME or the user data dir).", show_default=False)
]
Namespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Episode namespace (default: $WEBCOACH_NAMESPACE or 'default').", show_default=False),
]
ChromaUrl = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        help="Chroma server URL, e.g. http://127.0.0.1:8000 (default: $WEBCOACH_CHROMA_URL, else embedded).",
        show_default=False,
    ),
]
Embedder = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        help="'minilm' or 'hashing' (default: what the store was built with, else the best available).",
        show_default=False,
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
BASE_URL_HELP = (
    "An OpenAI-compatible server for openai:/ollama: models, e.g. http://127.0.0.1:8000/v1 (vllm:/sglang: have defaults)."
)


@contextmanager
def one_line_errors() -> Iterator[None]:
    from webcoach.errors import NamespaceNotFoundError

    try:
        yield
    except NamespaceNotFoundError as exc:
        # Right after `webcoach demo`, `memory list` looks in 'default': name the option that finds the demo's.
        hint = f"; e.g. add `-n {exc.existing[0]}`" if exc.existing else ""
        err.print(f"[red]error:[/red] {safe(str(exc))}{safe(hint)}", markup=True)
        raise typer.Exit(1) from None
    except WebcoachError as exc:
        err.print(f"[red]error:[/red] {safe(str(exc))}", markup=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


# How long a command waits for another process (an MCP server between calls, which gives the store back when idle).
LOCK_WAIT_S = 5.0


def open_store(
    home: Path | None,
    namespace: str | None,
    chroma_url: str | None,
    embedder: str | None = None,
    *,
    create: bool = True,
    read_only: bool = False,
    repairing: bool = False,
) -> EpisodeStore:
    """`create=False` for commands that must not make a namespace (a mistyped one is then an error); `read_only` for
    commands that only read: they change nothing, and say so when the store needs `webcoach memory repair`."""
    from webcoach.memory.store import EpisodeStore

    return EpisodeStore(
        home=home,
        namespace=namespace,
        url=chroma_url,
        embedder=embedder,
        create=create,
        read_only=read_only,
        repairing=repairing,
        lock_wait_s=LOCK_WAIT_S,
    )


def at_least_one(value: int, option: str) -> int:
    if value < 1:
        from webcoach.errors import ConfigError

        raise ConfigError(f"{option} must be 1 or more, not {value}")
    return value


TASK_WIDTH = 100  # a task longer than this is clipped in listings (`memory show` prints it whole)


def clipped(text: str, width: int = TASK_WIDTH) -> str:
    from webcoach.condenser.rules import clip

    return clip(text, width)


def progress_bar(*, disable: bool = False) -> Progress:
    """The bar long commands show on stderr (stdout stays clean for --json and pipes)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=disable or QUIET["on"] or not err.is_terminal,
    )


def spinner(*, disable: bool = False) -> Progress:
    """For long work with no count to show (on stderr, as progress_bar; off where stderr is no terminal, since rich
    then leaves a blank line behind)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=disable or QUIET["on"] or not err.is_terminal,
    )


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def safe(text: object) -> str:
    """Stored text as printable markup: control characters (terminal escapes) stripped, rich markup escaped. Everything
    printed from stored or page-derived text goes through this (or `plain` where markup is off)."""

    return escape(plain(text))


def plain(text: object) -> str:
    from webcoach.condenser.guard import clean

    return clean(str(text) if text is not None else "")


def advice_block(advice: Advice) -> str:
    """The framed advice (the same text an agent gets), each line cleaned, indented; print with markup=False."""
    return "\n".join(f"  {plain(line)}" for line in advice.render().splitlines())


TRUST_MARK = {"approved": "[cyan]pinned  [/cyan]", "banned": "[red]BANNED  [/red]"}


def episode_line(ep: Episode) -> str:
    colour = {"success": "green", "failure": "red"}.get(ep.outcome.value, "yellow")
    trust = TRUST_MARK.get(ep.trust, f"[dim]{ep.trust:<8}[/dim]")
    return (
        f"[bold]{safe(ep.id)}[/bold] [{colour}]{ep.outcome.value:<7}[/{colour}] {trust} {safe(ep.domain or '-'):<24} "
        f"{safe(clipped(ep.task))}"
    )


def show_episode(ep: Episode) -> None:
    out.print(f"[bold]{safe(ep.id)}[/bold]  {safe(ep.task)}")
    reason = f": {ep.outcome_reason}" if ep.outcome_reason else ""
    out.print(f"  outcome: {ep.outcome.value} (by {ep.outcome_by}{reason})", markup=False)
    out.print(
        f"  site: {plain(ep.domain or '-')} ({plain(ep.start_url or '-')})   steps: {ep.step_count}   "
        f"created: {ep.created_at:%Y-%m-%d %H:%M}   source: {ep.source_kind}, {plain(ep.condenser)}",
        markup=False,
    )
    imported = f", imported from {plain(ep.imported_from)} on {ep.imported_at:%Y-%m-%d}" if ep.imported_at else ""
    revision = f", a person's revision of {plain(ep.revision_of)}" if ep.revision_of else ""
    verdict = " (BANNED: never shown to an agent)" if ep.banned else (" (pinned by a person)" if ep.pinned else "")
    out.print(f"  trust: {ep.trust}{verdict}{imported}{revision}", markup=False)
    out.print(f"  usefulness: {ep.usefulness:.2f} (helped {ep.helped}, hurt {ep.hurt})")
    out.print(f"\n{plain(ep.summary)}", markup=False)
    for title, items in (
        ("Key steps", ep.key_steps),
        ("What went wrong", [f"[{f.kind}] {f.detail}" for f in ep.failure_modes]),
        ("What worked", ep.what_worked),
        ("Lessons", ep.lessons),
    ):
        if items:
            out.print(f"\n[bold]{title}[/bold]")
            for item in items:
                out.print(f"  - {plain(item)}", markup=False)


@app.command()
def ingest(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Playwright trace.zip files, HAR files or browser-use history .json files.", show_default=False),
    ],
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="What the runs were trying to do (required when a log does not say).")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option("--outcome", help="Your verdict for these runs: success or failure (overrides the log).")
    ] = None,
    llm: Annotated[
        str | None, typer.Option("--llm", help="Condense with an LLM, e.g. anthropic:claude-sonnet-4-5 (default: rule-based).")
    ] = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="A value to mask everywhere (repeatable), on top of automatic redaction.")
    ] = None,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    embedder: Embedder = None,
    as_json: JsonOut = False,
) -> None:
    """Condense run logs into episodes and store them. Re-ingesting the same log is a no-op."""
    from webcoach.condenser.playwright_mcp import expand_folders
    from webcoach.memory.ingest import check_outcome, ingest_files

    with one_line_errors():
        check_outcome(outcome)
    sources = expand_folders(sources)  # a Playwright MCP output folder stands for each trace in it
    results: list[IngestResult] = []  # reported as each batch is written: what a stop leaves stored

    def done(result: IngestResult) -> None:
        results.append(result)
        bar.advance(job)

    with one_line_errors():
        try:
            with open_store(home, namespace, chroma_url, embedder) as store, progress_bar(disable=as_json) as bar:
                job = bar.add_task("ingesting", total=len(sources))
                ingest_files(
                    store,
                    sources,
                    task=task,
                    outcome=outcome,
                    llm=llm,
                    secrets=secret or (),
                    on_file=lambda path: bar.update(job, description=f"ingesting {path.name}"),
                    on_done=done,
                )
        except KeyboardInterrupt:
            print_ingest(results, as_json=as_json, total=len(sources))
            added = sum(r.status == "added" for r in results)
            err.print(
                f"interrupted: {added} added and stored, {len(sources) - len(results)} files not ingested (run again for them)"
            )
            raise typer.Exit(130) from None
        except WebcoachError:
            # Stopped part-way (the server went away): what was stored stays stored; say what that was.
            if results:
                print_ingest(results, as_json=as_json, total=len(sources))
            raise
    print_ingest(results, as_json=as_json, total=len(sources))
    if any(r.status == "error" for r in results):
        raise typer.Exit(1)


def print_ingest(results: list[IngestResult], *, as_json: bool, total: int) -> None:
    if as_json:
        print_json([r.as_dict() for r in results])
        return
    for r in results:
        if r.status == "error":
            err.print(f"[red]error:[/red] {safe(r.error or '')}", markup=True, highlight=False)
        else:
            note = "" if r.condenser == "rules" or str(r.condenser).startswith("llm:") else f"  ({r.condenser})"
            out.print(plain(f"{r.status:<9} {r.id}  {r.outcome:<7} {r.file}{note}"), markup=False)
    added = sum(r.status == "added" for r in results)
    failed = sum(r.status == "error" for r in results)
    summary = f"{added} added, {sum(r.status == 'duplicate' for r in results)} already stored, {failed} failed"
    if len(results) < total:
        summary += f"; stopped after {len(results)} of {total} files (the rest were not read)"
    out.print(summary, markup=False)


@app.command()
def advise(
    task: Annotated[str, typer.Argument(help="The task an agent is about to do.")],
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="The page it starts on: advice is scoped to that site (without it, to a site the task names)."
        ),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also show every retrieved episode, its score parts and the weights.")
    ] = False,
    llm: Annotated[
        str | None,
        typer.Option("--llm", help="Decide with an LLM coach, e.g. anthropic:claude-sonnet-4-5 (default: rule-based)."),
    ] = None,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """What the coach would tell an agent starting this task now, and which past episodes it rests on."""
    import asyncio
    from dataclasses import asdict

    from webcoach.coach.coach import Coach
    from webcoach.errors import NamespaceNotFoundError

    with one_line_errors():
        try:
            store = open_store(home, namespace, chroma_url, read_only=True)
        except NamespaceNotFoundError as exc:
            if exc.existing:  # a namespace typo: say which exist
                raise
            out.print("No advice: nothing is stored yet.")  # a fresh install: the coach would stay silent
            return
        with store:
            coach = Coach(store, llm=llm)
            hits = [h for h in asyncio.run(coach.retrieve(task, url)) if not h.episode.banned]
            advice = asyncio.run(coach.advise(task, url, hits=hits))
    if as_json:
        print_json(
            {
                "advice": {**advice.model_dump(mode="json"), "rendered": advice.render()} if advice else None,
                "hits": [hit_json(h, url, task) for h in hits],
                "config": asdict(coach.config),
            }
        )
        return
    if advice is None:
        out.print("No advice: nothing in memory is close enough to this task." if not hits or not explain else "No advice.")
    else:
        out.print(f"[bold]Advice[/bold] (confidence {advice.confidence:.2f}; {safe(advice.why)}):")
        for line in advice.render().splitlines():
            out.print(f"  {plain(line)}", markup=False)
        out.print(f"  rests on: {', '.join(advice.episode_ids)}", markup=False)
    if explain:
        w = coach.config.weights
        out.print(
            f"\n[bold]Ranking[/bold]: score = {w.similarity}*similarity + {w.recency}*recency + {w.usefulness}*(2*usefulness-1)"
            f"\n  + {w.same_site}*same_site (without a URL: + {w.likely_site}*the site the nearest {w.site_vote} vote for)"
            f"\n  recency half-life {w.half_life_days}d, over-fetch {w.overfetch}, k={coach.config.k}"
            f"\n  advice needs similarity >= {coach.config.min_similarity}"
        )
        # Plain columns, not a rich Table: at 80 columns a Table squeezed the ids and wrapped tasks one word per line.
        # Ids and numbers are never cut; the task gets what is left of the line, clipped.
        id_width = max([2, *(len(h.episode.id) for h in hits)])
        trust_width = max([5, *(len(h.episode.trust) for h in hits)])
        out.print(
            f"{'score':>5} {'sim':>5} {'rec':>4} {'use':>4} site {'trust':<{trust_width}} {'id':<{id_width}} outcome task",
            markup=False,
        )
        for h in hits:
            line = (
                f"{h.score:5.3f} {h.similarity:5.3f} {h.recency:4.2f} {h.usefulness:4.2f} {'yes' if h.same_site else ('vote' if h.likely_site else ''):<4} "
                f"{h.episode.trust:<{trust_width}} {plain(h.episode.id):<{id_width}} {h.episode.outcome.value:<7} "
            )
            out.print(line + plain(clipped(h.episode.task, max(16, out.width - len(line)))), markup=False)
        c = coach.config
        out.print(
            f"budget: at most {c.max_interventions} interventions per run, {c.min_steps_between} steps apart; coach timeout {c.timeout_s}s"
        )


def hit_json(h: Hit, url: str | None, task: str) -> dict[str, Any]:
    """A hit for `--json`: its ranking, and its episode through the guard every way out of memory uses (coach/scope.py):
    another site's page text never, instruction-like text withheld, an answer only for the same task."""
    from webcoach.coach.scope import guarded, run_site

    episode = guarded(h.episode, run_site(url, task), answers_for=task) or h.episode
    return {
        "score": h.score,
        "similarity": h.similarity,
        "recency": h.recency,
        "usefulness": h.usefulness,
        "same_site": h.same_site,
        "likely_site": h.likely_site,
        "trust": h.episode.trust,
        "episode": episode.model_dump(mode="json"),
    }


def browser_use_env() -> None:
    """Keep browser-use offline and quiet in this process (telemetry, version check, its own logging set-up)."""
    import os

    from webcoach.hooks.browser_session import offline_env

    for key, value in offline_env().items():
        os.environ.setdefault(key, value)


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    url: Annotated[str | None, typer.Option("--url", help="Page to start on.")] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Agent model: anthropic:MODEL, openai:MODEL, google:MODEL, ... (browser-use chat classes)."
        ),
    ] = "anthropic:claude-sonnet-4-5",
    coach_on: Annotated[
        bool,
        typer.Option(
            "--coach/--no-coach", help="Coach the run from memory and store it afterwards (--no-coach: plain browser-use)."
        ),
    ] = True,
    llm: Annotated[
        str | None,
        typer.Option(
            "--coach-llm", help="Let an LLM decide the coaching, e.g. anthropic:claude-sonnet-4-5 (default: rule-based coach)."
        ),
    ] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Stop the agent after this many steps.")] = 30,
    headless: Annotated[bool, typer.Option("--headless/--headed", help="Show the browser window or not.")] = True,
    judge: Annotated[
        bool,
        typer.Option(
            "--judge/--no-judge",
            help="Let browser-use's judge rate the run (one extra LLM call); its verdict labels the stored episode.",
        ),
    ] = False,
    browser: Annotated[
        str | None, typer.Option("--browser", help="Chromium/Chrome executable (default: $WEBCOACH_BROWSER, else found on PATH).")
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help=BASE_URL_HELP)] = None,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Run a browser-use agent on a task, with the coach injecting advice from past runs."""
    import asyncio

    browser_use_env()
    from webcoach.hooks.runner import run_with_memory

    def show_step(event: StepEvent) -> None:
        if not as_json:
            acts = "; ".join(describe_step(s) for s in event.actions) or "(no action)"
            out.print(f"[dim]step {event.number:>2}[/dim] {acts}  [dim]{short(event.url)} {event.seconds:.1f}s[/dim]")

    def show_advice(advice: Advice) -> None:
        if not as_json:
            out.print(f"[magenta]coach[/magenta] ({advice.trigger}, cites {', '.join(advice.episode_ids)}):", markup=True)
            out.print(advice_block(advice), markup=False)

    with one_line_errors():
        result = asyncio.run(
            run_with_memory(
                task, model=model, url=url, coached=coach_on, coach_llm=llm, judge=judge, base_url=base_url,
                max_steps=max_steps, headless=headless, browser=browser, home=home, namespace=namespace,
                chroma_url=chroma_url, on_step=show_step, on_advice=show_advice,
            )
        )  # fmt: skip
    if as_json:
        print_json(
            {
                "task": result.task,
                "final_answer": result.final_answer,
                "success": result.success,
                "steps": result.steps,
                "seconds": round(result.seconds, 2),
                "history": str(result.history_path) if result.history_path else None,
                "advice": [{**a.model_dump(mode="json"), "rendered": a.render()} for a in result.advice],
                "episode": result.episode.id if result.episode else None,
            }
        )
        return
    verdict = {True: "[green]success[/green]", False: "[red]failure[/red]", None: "[yellow]unknown[/yellow]"}[result.success]
    out.print(f"\n{verdict} after {result.steps} steps in {result.seconds:.0f}s; {len(result.advice)} coach interventions")
    out.print(f"[bold]Answer:[/bold] {safe(result.final_answer or '(none)')}")
    if result.history_path:
        out.print(f"history: {result.history_path}")
    if result.episode:
        out.print(f"stored as episode {result.episode.id} ({result.episode.outcome.value}, by {result.episode.outcome_by})")


def describe_step(step: Step) -> str:
    from webcoach.condenser.rules import describe

    return safe(describe(step)) + (f" [red]failed[/red]: {safe(step.error[:80])}" if step.error else "")


def short(url: str | None) -> str:
    from webcoach.condenser.rules import short_url

    return short_url(url) if url else ""


@app.command()
def demo(
    headless: Annotated[bool, typer.Option("--headless/--headed", help="Show the browser windows or not.")] = True,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Agent model for the coached run (default: anthropic:claude-sonnet-4-5 when ANTHROPIC_API_KEY is set, else no agent run).",
        ),
    ] = None,
    browser: Annotated[str | None, typer.Option("--browser", help="Chromium/Chrome executable (default: found on PATH).")] = None,
    home: Home = None,
    as_json: JsonOut = False,
) -> None:
    """The whole loop on a bundled local shop: record real browser sessions, condense and store them, show the coach's
    advice for a new task; with ANTHROPIC_API_KEY set, also run a coached browser-use agent on it."""
    import asyncio

    from webcoach.tasks.demo import NEW_TASK, anthropic_available, run_demo

    browser_use_env()
    if model is None and anthropic_available():
        model = "anthropic:claude-sonnet-4-5"
    with one_line_errors():
        report = asyncio.run(
            run_demo(
                home=home,
                headless=headless,
                browser=browser,
                model=model,
                on_line=lambda line: None if as_json or QUIET["on"] else err.print(f"[cyan]>[/cyan] {line}"),
            )
        )
    if as_json:
        r = report.agent
        print_json(
            {
                "namespace": "demo",
                "episodes": [episode_json(e) for e in report.episodes],
                "hits": [hit_json(h, f"{report.shop}/index.html", NEW_TASK) for h in report.hits],
                "advice": {**report.advice.model_dump(mode="json"), "rendered": report.advice.render()}
                if report.advice
                else None,
                "agent": None if r is None else {"success": r.success, "steps": r.steps, "final_answer": r.final_answer},
            }
        )
        return
    out.print("\n[bold]Episodes learned from the recorded sessions[/bold]")
    for ep in report.episodes:
        out.print(episode_line(ep))
        for lesson in ep.lessons[:2]:
            out.print(f"      lesson: {plain(lesson)}", markup=False)
    out.print("\n[bold]Memory search for the new task[/bold]")
    for h in report.hits:
        out.print(f"{h.score:5.2f}  sim {h.similarity:.2f}  " + episode_line(h.episode))
    if report.advice is None:
        out.print("\nThe coach would stay silent.")
    else:
        out.print(f"\n[bold]The coach's advice before the first step[/bold] (cites {', '.join(report.advice.episode_ids)}):")
        out.print(advice_block(report.advice), markup=False)
    if report.agent is not None:
        r = report.agent
        out.print(
            f"\n[bold]Coached agent[/bold]: {'success' if r.success else 'not successful'} in {r.steps} steps; answer: {r.final_answer}"
        )
        for a in r.advice:
            out.print(f"  coach ({a.trigger}):", markup=False)
            out.print(advice_block(a), markup=False)
    else:
        out.print("\nSet ANTHROPIC_API_KEY to also run a coached browser-use agent on this task (or `webcoach run ... --model`).")
    out.print(f"\nTry: webcoach memory list -n demo   |   webcoach advise {NEW_TASK_HINT} --explain -n demo")


NEW_TASK_HINT = "'Find the cheapest history book on Acme Books'"


@app.command()
def mcp(
    http: Annotated[
        str | None, typer.Option("--http", help="Serve streamable HTTP at HOST:PORT (endpoint /mcp) instead of stdio.")
    ] = None,
    llm: Annotated[
        str | None,
        typer.Option("--llm", help="Decide advice with an LLM coach, e.g. anthropic:claude-sonnet-4-5 (default: rule-based)."),
    ] = None,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    embedder: Embedder = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Bearer token every HTTP request must carry (env WEBCOACH_MCP_TOKEN); required for --http beyond loopback.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve memory and the coach to MCP clients (Claude Desktop, Claude Code, Cursor ...); stdio unless --http."""
    from webcoach.hooks.mcp_server import ServerOptions, serve
    from webcoach.settings import mcp_token

    with one_line_errors():
        options = ServerOptions(home=home, namespace=namespace, chroma_url=chroma_url, embedder=embedder, llm=llm)
        serve(options, http, mcp_token(token))


SiteOpt = Annotated[str | None, typer.Option("--site", help="Only this site (a domain or any URL on it).", show_default=False)]
OutcomeOpt = Annotated[
    str | None, typer.Option("--outcome", help="Only this outcome: success, failure or unknown.", show_default=False)
]
TrustOpt = Annotated[
    str | None,
    typer.Option("--trust", help="Only this trust: approved, human, judge, agent, imported or banned.", show_default=False),
]
BannedOpt = Annotated[bool, typer.Option("--banned", help="Include banned episodes (left out by default).")]


def episode_filter(site: str | None, outcome: str | None, trust: str | None, banned: bool, text: str | None = None) -> Any:
    from webcoach.memory.curate import EpisodeFilter

    return EpisodeFilter(site=site, outcome=outcome, trust=trust, banned=banned, text=text)


def episode_json(ep: Episode) -> dict[str, Any]:
    return {**ep.model_dump(mode="json"), "trust": ep.trust}


def listed_json(ep: Episode) -> dict[str, Any]:
    """An episode in a listing's --json, through the read guard (coach/scope.py): no page text, only approved general
    lessons; a banned one (listed only with --banned) as its bare record, marked."""
    from webcoach.coach.scope import general_only, guard_episode, guarded

    shown = guard_episode(general_only(ep, []), None) if ep.banned else guarded(ep, None)
    return episode_json(shown or ep)


@memory_app.command("list")
def memory_list(
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many (1 or more), newest first.")] = 50,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many matching episodes first (paging).")] = 0,
    site: SiteOpt = None,
    outcome: OutcomeOpt = None,
    trust: TrustOpt = None,
    banned: BannedOpt = False,
    text: Annotated[str | None, typer.Option("--text", help="Only episodes whose task, summary or lessons hold this.")] = None,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """List stored episodes, newest first, with their trust (pinned and banned marked); banned ones only with --banned."""
    from webcoach.memory.curate import matching

    with one_line_errors():
        where = episode_filter(site, outcome, trust, banned, text)
        with open_store(home, namespace, chroma_url, read_only=True) as store:
            episodes, more = matching(store, where, limit=at_least_one(limit, "--limit"), offset=max(0, offset))
            empty = not episodes and store.count() == 0
    if as_json:  # through the same guard as every way out (no site given: no page text, only approved lessons)
        print_json([listed_json(e) for e in episodes])
        return
    if not episodes:
        out.print("no episodes stored yet: add some with `webcoach ingest` or `webcoach run`" if empty else "no episodes match")
        return
    for ep in episodes:
        out.print(episode_line(ep))
    if more:
        out.print(f"… more (use --limit, or --offset {offset + len(episodes)})")


@memory_app.command("show")
def memory_show(
    episode_id: Annotated[str, typer.Argument(metavar="ID", help="Episode id (as printed by list/search).")],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show one episode in full, with the advice it gave (from the advice log)."""
    with one_line_errors(), open_store(home, namespace, chroma_url, read_only=True) as store:
        ep = store.get(episode_id)
        advice = store.advice_log().entries(episode=ep.id)
    if as_json:
        print_json({**episode_json(ep), "advice_log": [a.model_dump(mode="json") for a in advice]})
        return
    if ep.banned:
        out.print("BANNED: a person excluded this episode; it is never shown to agents (undo: memory ban --undo ID)")
    show_episode(ep)
    if advice:
        ended = [a for a in advice if a.outcome in ("success", "failure")]
        wins = sum(a.outcome == "success" for a in ended)
        out.print(
            f"\n[bold]Advice log[/bold]: cited in {len(advice)} interventions; {wins} in runs that succeeded, "
            f"{len(ended) - wins} in runs that failed, {len(advice) - len(ended)} not ended or unknown "
            f"(`webcoach memory advice --episode {safe(ep.id)}`)"
        )


@memory_app.command("search")
def memory_search(
    query: Annotated[str, typer.Argument(help="A task description to find similar past runs for.")],
    url: Annotated[str | None, typer.Option("--url", help="The site the task is on; same-site episodes rank higher.")] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="How many hits (1 or more).")] = 5,
    site: SiteOpt = None,
    outcome: OutcomeOpt = None,
    trust: TrustOpt = None,
    banned: BannedOpt = False,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Find the stored episodes most relevant to a task (similarity, recency, usefulness, same site); banned ones only
    with --banned."""
    from webcoach.memory.curate import filter_hits

    with one_line_errors():
        where = episode_filter(site, outcome, trust, banned)
        want = at_least_one(k, "-k/--top")
        with open_store(home, namespace, chroma_url, read_only=True) as store:
            # Filters are applied after ranking: fetch more so that k still come back.
            hits = filter_hits(store.search(query, url=url, k=want * 8), where)[:want]
            empty = not hits and store.count() == 0
    if as_json:
        print_json([hit_json(h, url, query) for h in hits])
        return
    if not hits:
        out.print(
            "no episodes stored yet in this namespace: add some with `webcoach ingest` or `webcoach run`"
            if empty
            else "no episodes match"
        )
        return
    for h in hits:
        out.print(f"{h.score:5.2f}  " + episode_line(h.episode))
        if h.episode.lessons:
            out.print(f"       lesson: {plain(clipped(h.episode.lessons[0], 160))}", markup=False)


@memory_app.command("edit")
def memory_edit(
    episode_id: Annotated[str, typer.Argument(metavar="ID", help="Episode id (as printed by list/search).")],
    lesson: Annotated[
        list[str] | None,
        typer.Option(
            "--lesson",
            help="A lesson of the revision (repeatable; replaces the lessons). Without --lesson and "
            "--summary, your $EDITOR opens on them.",
        ),
    ] = None,
    summary: Annotated[str | None, typer.Option("--summary", help="The revision's summary.")] = None,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Correct an episode's lessons or summary: the edit is stored as a new, human-trusted revision and the original is
    kept (banned, so no agent gets both; `memory show` still shows it)."""
    from webcoach.memory.curate import revise

    with one_line_errors(), open_store(home, namespace, chroma_url, create=False) as store:
        if lesson is None and summary is None:
            ep = store.get(episode_id)
            lesson, summary = edit_in_editor(ep)
        revision = revise(store, episode_id, lessons=lesson, summary=summary)
    if as_json:
        print_json(episode_json(revision))
        return
    out.print(f"revised {safe(episode_id)} as {safe(revision.id)} (trust: {revision.trust}); the original is kept, banned")


EDIT_HELP = (
    "# Lines starting with '#' are ignored. The summary is the first paragraph; each line after the blank line is a lesson.\n"
)


def edit_in_editor(ep: Episode) -> tuple[list[str], str]:
    import click
    from webcoach.errors import InputError

    text = click.edit(EDIT_HELP + ep.summary + "\n\n" + "\n".join(ep.lessons) + "\n", extension=".txt")
    if text is None:
        raise InputError("edit cancelled: the editor was closed without saving")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    blank = next((n for n, line in enumerate(lines) if not line.strip()), len(lines))
    return [line.strip() for line in lines[blank + 1 :] if line.strip()], " ".join(x.strip() for x in lines[:blank])


@memory_app.command("advice")
def memory_advice(
    site: SiteOpt = None,
    episode: Annotated[str | None, typer.Option("--episode", help="Only advice citing this episode.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many, newest first.")] = 50,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """The advice log: each intervention the coach made (when, run, site, trigger, episodes cited, how the run ended),
    newest first, and the helped/hurt counts it gives each episode (what `memory show` counts)."""
    from webcoach.memory.advice_log import tally
    from webcoach.memory.curate import EpisodeFilter

    with one_line_errors():
        wanted = EpisodeFilter(site=site).site if site else None
        with open_store(home, namespace, chroma_url, create=False) as store:
            every = store.advice_log().entries(site=wanted, episode=episode)
    shown = every[: at_least_one(limit, "--limit")]
    counts = tally(e for e in every if e.imported_from is None)
    if as_json:
        print_json(
            {
                "advice": [a.model_dump(mode="json") for a in shown],
                "counts": {i: {"helped": h, "hurt": u} for i, (h, u) in sorted(counts.items())},
            }
        )
        return
    if not every:
        out.print("no advice given yet" + (" on that site" if site else "") + ": the coach has not spoken in a recorded run")
        return
    colour = {"success": "green", "failure": "red"}
    for a in shown:
        result = a.outcome or "running"
        c = colour.get(result, "yellow")
        out.print(
            f"{a.at:%Y-%m-%d %H:%M} [{c}]{result:<8}[/{c}] {safe(a.run)} {safe(a.channel):<11} {safe(a.site or '-'):<20} "
            f"{a.trigger:<12} cites {safe(', '.join(a.episode_ids))}"
        )
    if len(every) > len(shown):
        out.print(f"… {len(every) - len(shown)} more (use --limit)")
    if counts:
        out.print("\n[bold]Counts from this log[/bold] (helped / hurt per episode cited):")
        for i, (h, u) in sorted(counts.items(), key=lambda kv: -sum(kv[1]))[:20]:
            out.print(f"  {safe(i)}  {h} / {u}")


@memory_app.command("stats")
def memory_stats(home: Home = None, namespace: Namespace = None, chroma_url: ChromaUrl = None, as_json: JsonOut = False) -> None:
    """Counts by outcome and site, the embedder in use and where the data lives."""
    from dataclasses import asdict

    with one_line_errors(), open_store(home, namespace, chroma_url, read_only=True) as store:
        stats = store.stats()
    data = asdict(stats)
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if isinstance(value, dict):
            value = list(value.items())
        # (name, count) pairs (by outcome, by site) read as "a: 3, b: 1", not as a Python list.
        text = (", ".join(f"{k}: {v}" for k, v in value) or "-") if isinstance(value, list) else str(value)
        table.add_row(key.replace("_", " "), safe(text))
    out.print(table)


@memory_app.command("forget")
def memory_forget(
    episode_id: Annotated[str, typer.Argument(metavar="ID", help="Episode id (as printed by list/search).")],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Delete one episode."""
    with one_line_errors(), open_store(home, namespace, chroma_url, create=False) as store:
        removed = store.forget(episode_id)
    if not removed:
        err.print(f"error: no episode {safe(episode_id)} in this namespace")
        raise typer.Exit(1)
    if as_json:
        print_json({"forgot": episode_id})
        return
    out.print(f"forgot {safe(episode_id)}")


@memory_app.command("export")
def memory_export(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.jsonl", help="Where to write ('-': standard output); replaced whole, never by an empty export."
        ),
    ],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Write every episode of the namespace to a JSONL file (one episode per line), then its advice log."""
    from webcoach.memory.advice_log import export_lines

    with one_line_errors(), open_store(home, namespace, chroma_url, read_only=True) as store:
        if str(file) == "-":
            sys.stdout.writelines(ep.model_dump_json() + "\n" for ep in store.episodes())
            sys.stdout.writelines(export_lines(store.advice_log().entries()[::-1]))
            sys.stdout.flush()
            return
        n = store.export(file)
    if as_json:
        print_json({"exported": n, "file": str(file)})
        return
    out.print(f"exported {n} episodes to {safe(file)}")


@memory_app.command("import")
def memory_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.jsonl", help="A `webcoach memory export` file (the namespace is created if new).")
    ],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    embedder: Embedder = None,
    trust_counts: Annotated[
        bool,
        typer.Option(
            "--trust-counts", help="Keep the file's helped/hurt counts and dates (default: reset; only for your own exports)."
        ),
    ] = False,
    as_json: JsonOut = False,
) -> None:
    """Add the episodes of a JSONL export (validated whole first; episodes already stored are skipped), and its advice
    log. Imported episodes are marked as imported (the least trusted), get ids derived from their content and sites
    from their URLs."""
    from webcoach.memory.advice_log import read_export
    from webcoach.memory.transfer import harden, read_jsonl

    with one_line_errors():
        # A bad file is refused before the store opens: a mistyped namespace is not created for nothing.
        hardened = harden(read_jsonl(file), str(file), trust_counts=trust_counts)
        id_map = {claimed: ep.id for claimed, ep in hardened}
        advice = read_export(file)
    with one_line_errors(), open_store(home, namespace, chroma_url, embedder) as store, spinner(disable=as_json) as bar:
        bar.add_task(f"importing {len(id_map)} episodes", total=None)
        added, skipped = store.import_hardened(hardened)  # read and checked once, above
        logged = store.advice_log().import_entries(advice, id_map=id_map, source=file.name) if advice else 0
    if as_json:
        print_json({"added": added, "skipped": skipped, "advice_entries": logged})
        return
    out.print(
        f"imported {added} episodes, skipped {skipped} already stored" + (f"; {logged} advice log entries" if logged else "")
    )


@memory_app.command("reembed")
def memory_reembed(
    to: Annotated[str, typer.Option("--to", help="The embedder to move the namespace to: minilm or hashing.")],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Embed every episode of the namespace again with another embedder (the namespace then uses that one)."""
    with one_line_errors(), open_store(home, namespace, chroma_url) as store, progress_bar(disable=as_json) as bar:
        job = bar.add_task(f"re-embedding with {to}", total=store.count())
        moved = store.reembed(to, on_progress=lambda done, _total: bar.update(job, completed=done))
        name = store.embedder.name
    if as_json:
        print_json({"reembedded": moved, "embedder": name})
        return
    out.print(f"re-embedded {moved} episodes with {name}")


@memory_app.command("repair")
def memory_repair(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what disagrees and what would be done; change nothing.")
    ] = False,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Make the vector index agree with the record file, which holds every episode: index records that lack vectors
    (embedded again from their text), copy aside and remove vectors without records, build an unreadable index again,
    count episodes per site again. Removes no episode."""
    with (
        one_line_errors(),
        open_store(home, namespace, chroma_url, create=False, repairing=True) as store,
        progress_bar(disable=as_json) as bar,
    ):
        job = bar.add_task("indexing records", total=None)
        done = store.repair(dry_run=dry_run, on_progress=lambda n, total: bar.update(job, completed=n, total=total))
    if as_json:
        print_json(done.as_dict())
        return
    out.print(safe(done.line()))


@memory_app.command("compact")
def memory_compact(home: Home = None, chroma_url: ChromaUrl = None, as_json: JsonOut = False) -> None:
    """Give the disk space that forgotten episodes and Chroma's purged write queue left free back (embedded store, every
    namespace; no other process may have it open)."""
    from webcoach.memory.store import compact

    # A spinner, not a bar: Chroma's vacuum says nothing until it is done (tens of seconds for 100k episodes).
    with one_line_errors(), spinner(disable=as_json) as bar:
        bar.add_task("compacting the store", total=None)
        done = compact(home=home, url=chroma_url)
    if as_json:
        print_json({"location": done.location, "bytes_before": done.bytes_before, "bytes_after": done.bytes_after})
        return
    out.print(f"compacted {safe(done.location)}: {size_text(done.bytes_before)} -> {size_text(done.bytes_after)}")


@memory_app.command("pin")
def memory_pin(
    episode_id: Annotated[str, typer.Argument(metavar="ID")],
    undo: Annotated[bool, typer.Option("--undo", help="Withdraw the approval.")] = False,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Approve an episode: its advice becomes the most trusted, and its general lessons may be shown on other sites."""
    with one_line_errors(), open_store(home, namespace, chroma_url) as store:
        ep = store.review(episode_id, pinned=not undo)
    if as_json:
        print_json(episode_json(ep))
        return
    out.print(f"{'unpinned' if undo else 'pinned'} {safe(ep.id)} (trust: {ep.trust})")


@memory_app.command("ban")
def memory_ban(
    episode_id: Annotated[str, typer.Argument(metavar="ID")],
    undo: Annotated[bool, typer.Option("--undo", help="Lift the ban.")] = False,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Exclude an episode: it is kept (for `show`) but never shown to an agent."""
    with one_line_errors(), open_store(home, namespace, chroma_url) as store:
        ep = store.review(episode_id, banned=not undo)
    if as_json:
        print_json(episode_json(ep))
        return
    out.print(f"{'unbanned' if undo else 'banned'} {safe(ep.id)} (trust: {ep.trust})")


@memory_app.command("setup-embedder")
def memory_setup_embedder(as_json: JsonOut = False) -> None:
    """Download the all-MiniLM-L6-v2 ONNX model (needs internet) so searches use real sentence embeddings."""
    from webcoach.memory.store import download_default_model

    with one_line_errors():
        path = download_default_model()
    if as_json:
        print_json({"model_dir": str(path)})
        return
    out.print(f"MiniLM model ready in {path}")


@app.command("eval")
def eval_command(
    tasks_file: Annotated[
        Path | None, typer.Argument(metavar="[TASKS.jsonl]", help="A WebVoyager-format task file (or use --suite).")
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite", help="A built-in suite: 'miniwob' (MiniWoB++ pages, served locally) or 'webvoyager' (643 live tasks)."
        ),
    ] = None,
    names: Annotated[
        str | None, typer.Option("--tasks", help="MiniWoB++ tasks, comma-separated, e.g. click-tab-2,email-inbox.")
    ] = None,
    episodes: Annotated[int, typer.Option("--episodes", help="MiniWoB++ episodes per task (seeds SEED..SEED+N-1).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="First MiniWoB++ seed.")] = 0,
    sites: Annotated[str | None, typer.Option("--sites", help="Only these sites (web_name), comma-separated.")] = None,
    ids: Annotated[str | None, typer.Option("--ids", help="Only these task ids, comma-separated.")] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="A sample of N tasks (after --sites/--ids): seeded, spread evenly over the sites."),
    ] = None,
    sample_seed: Annotated[int, typer.Option("--sample-seed", help="Seed of the --limit sample.")] = 0,
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help="WebVoyager reference answers (kept with each result; the judge never sees them)."),
    ] = None,
    date_shift: Annotated[
        str | None, typer.Option("--date-shift", help="Move past dates in questions: 'auto' (to the future) or N years.")
    ] = None,
    order_seed: Annotated[
        int | None, typer.Option("--order-seed", help="Shuffle the task order (and each task's arm order) with this seed.")
    ] = None,
    repeats: Annotated[int, typer.Option("--repeats", help="Run the whole selection N times (run-to-run variance).")] = 1,
    arms: Annotated[str, typer.Option("--arms", help="Arms, comma-separated: baseline, coach, frozen.")] = "baseline,coach",
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Agent model: anthropic:MODEL, openai:MODEL, vllm:MODEL, sglang:MODEL, ..., or scripted:SCRIPT.json.",
        ),
    ] = "anthropic:claude-sonnet-4-5",
    base_url: Annotated[str | None, typer.Option("--base-url", help=BASE_URL_HELP + " Used by every LLM role.")] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="An LLM judge (anthropic:MODEL, openai:MODEL, vllm:MODEL, ...: WebVoyager's protocol, temperature 0), "
            "'browser-use[:PROVIDER:MODEL]', 'agent' (the agent's own claim, said in the report's headline) or 'reward' "
            "(MiniWoB++, the default there). Required for every other task set.",
        ),
    ] = None,
    judge_base_url: Annotated[
        str | None, typer.Option("--judge-base-url", help="The judge's server (default: --base-url).")
    ] = None,
    llm_seed: Annotated[int, typer.Option("--llm-seed", help="Seed sent to LLMs that take one.")] = 42,
    coach_llm: Annotated[
        str | None, typer.Option("--coach-llm", help="LLM for the coach's decisions (default: rule-based).")
    ] = None,
    condenser_llm: Annotated[
        str | None, typer.Option("--condenser-llm", help="LLM that condenses the coach arm's runs (default: rule-based).")
    ] = None,
    memory: Annotated[
        Path | None,
        typer.Option("--memory", help="A `webcoach memory export` file: the coach arm starts from it; the frozen arm uses it."),
    ] = None,
    allow_same_task: Annotated[
        bool, typer.Option("--allow-same-task", help="Let a task be coached from its own earlier runs (leaks answers).")
    ] = False,
    allow_scripts: Annotated[
        bool, typer.Option("--allow-scripts", help="Let the agent run page scripts on MiniWoB++ (it can then forge rewards).")
    ] = False,
    judge_sample: Annotated[
        int, typer.Option("--judge-sample", help="Write a sheet of N judged runs for a person to label (judge-human agreement).")
    ] = 0,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", help="Agents at once, each in its own browser.")] = 1,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder (default: runs/eval-DATE-TIME).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out, skipping finished tasks.")] = False,
    shard: Annotated[str | None, typer.Option("--shard", help="Run only shard I of N, e.g. 2/8.")] = None,
    chroma_url: ChromaUrl = None,
    run_name: Annotated[
        str | None,
        typer.Option("--run-name", help="Names the arms' namespaces on --chroma-url; shards that share memory use the same one."),
    ] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Step budget per task.")] = 30,
    screenshots: Annotated[
        int, typer.Option("--screenshots", help="Last screenshots kept per task (and shown to an LLM judge).")
    ] = 3,
    site_url: Annotated[
        str | None, typer.Option("--site-url", help="Base URL for {site} in task URLs (default: serve the bundled local sites).")
    ] = None,
    cost: Annotated[bool, typer.Option("--cost", help="Let browser-use price the tokens (it downloads a price list).")] = False,
    headless: Annotated[bool, typer.Option("--headless/--headed", help="Show the browser windows or not.")] = True,
    browser: Annotated[str | None, typer.Option("--browser", help="Chromium/Chrome executable (default: found on PATH).")] = None,
    embedder: Embedder = None,
    health_check: Annotated[
        bool,
        typer.Option(
            "--health-check/--no-health-check",
            help="Check each task's site answers before running it; runs on a site that is down are outages, not failures.",
        ),
    ] = True,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds per task; the agent stops at its next step (a failure).")
    ] = None,
    coach_k: Annotated[int | None, typer.Option("--coach-k", help="Past episodes the coach weighs (default 5).")] = None,
    coach_min_similarity: Annotated[
        float | None, typer.Option("--coach-min-similarity", help="Similarity below which an episode is ignored (0.35).")
    ] = None,
    coach_max_interventions: Annotated[
        int | None, typer.Option("--coach-max-interventions", help="Advice budget per run (default 3).")
    ] = None,
    coach_min_steps_between: Annotated[
        int | None, typer.Option("--coach-min-steps-between", help="Agent steps between two pieces of advice (default 2).")
    ] = None,
    coach_timeout: Annotated[
        float | None, typer.Option("--coach-timeout", help="Seconds a step waits for the coach (default 5).")
    ] = None,
    plan_only: Annotated[
        bool, typer.Option("--plan", help="Print the selection and the comparison's statistical power, then stop.")
    ] = False,
    plan_baseline: Annotated[
        float, typer.Option("--plan-baseline", help="Expected baseline success rate in %, for --plan.")
    ] = 50.0,
    as_json: JsonOut = False,
) -> None:
    """Run agents on a benchmark, with and without the coach, judge each run and append it to OUT/results.jsonl."""
    import asyncio

    browser_use_env()
    from webcoach.tasks.eval_plan import EvalOptions, check_plan, plan_eval, run_plan

    options = EvalOptions(**{k: v for k, v in locals().items() if k in EvalOptions.__dataclass_fields__})
    with one_line_errors():
        plan = plan_eval(options)
        for note in plan.notes:
            err.print(f"note: {note}", markup=False)
        if plan_only:
            from webcoach.tasks.power import power_text

            sys.stdout.write(
                power_text(len(plan.tasks), plan_baseline / 100, repeats=repeats, sites=len({t.site for t in plan.tasks}))
            )
            return
        check_plan(plan)
        folder = plan.config.out_dir
        with eval_progress(folder, quiet=as_json) as (on_plan, on_result, counts):
            try:
                run = asyncio.run(run_plan(plan, on_plan=on_plan, on_result=on_result))
            except KeyboardInterrupt:
                err.print(
                    f"interrupted: finished runs are in {folder}/results.jsonl; continue with the same command and --resume"
                )
                raise typer.Exit(130) from None
    if run.cleaned != (0, 0) or run.restored:
        err.print(
            f"cleaned up after a killed run: {run.cleaned[0]} browsers, {run.cleaned[1]} profiles; {run.restored} episodes stored again"
        )
    errors = sum(r.error is not None for r in run.results)
    outages = sum(r.outage is not None and r.error is None for r in run.results)
    if as_json:
        print_json(
            {
                "out": str(folder),
                "runs": len(run.results),
                "harness_errors": errors,
                "outages": outages,
                "arms": {a: {"succeeded": w, "runs": n} for a, (w, n) in counts.items()},
                "report": f"webcoach report {folder}",
            }
        )
        return
    summary = ", ".join(f"{a}: {w}/{n} succeeded" for a, (w, n) in counts.items()) or "nothing counted"
    note = f" ({errors} harness errors: rerun with --resume)" if errors else ""
    if outages:
        note += f" ({outages} outages: the site was down; not counted, rerun with --resume)"
    out.print(f"{len(run.results)} runs added to {folder}/results.jsonl{note}; {summary}")
    out.print(f"Report: webcoach report {folder}")


@contextmanager
def eval_progress(folder: Path, *, quiet: bool = False) -> Iterator[tuple[Any, Any, dict[str, tuple[int, int]]]]:
    """A progress bar on stderr (none when `quiet`: --json); yields (on_plan, on_result, per-arm (successes, runs))."""
    from webcoach.tasks.results import TaskResult

    counts: dict[str, tuple[int, int]] = {}
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet or QUIET["on"] or not err.is_terminal,  # as every progress bar: none in a pipe or with -q
    )
    bar = progress.add_task("eval", total=None)

    def planned(to_run: int, done: int) -> None:
        progress.update(bar, total=to_run)
        if quiet:
            return
        err.print(f"{to_run} runs to do" + (f", {done} already done" if done else "") + f"; results in {folder}/results.jsonl")

    def finished(result: TaskResult) -> None:
        wins, runs = counts.get(result.arm, (0, 0))
        if result.outage is None:  # a site that was down says nothing about the arm
            counts[result.arm] = (wins + result.judged_success, runs + 1)
        progress.update(bar, advance=1, description="  ".join(f"{a} {w}/{n}" for a, (w, n) in counts.items()))

    with progress:
        yield planned, finished, counts


@app.command("report")
def report_command(
    dirs: Annotated[list[Path], typer.Argument(metavar="DIR...", help="Eval output folders (several: the shards of one run).")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write the report (default: the first DIR).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots (needs matplotlib, the eval extra).")] = True,
    allow_mixed: Annotated[
        bool, typer.Option("--allow-mixed", help="Merge runs with other models, judges or task files (flagged in the report).")
    ] = False,
    as_json: JsonOut = False,
) -> None:
    """Provenance, success rates with 95% CIs on the paired tasks, paired differences and McNemar tests, per-site
    table, learning curve, failure categories, LLM use and coach interventions: printed, and written as report.md,
    PNG plots and a self-contained report.html."""
    from dataclasses import asdict

    from webcoach.tasks.report import render_text, write_report

    with one_line_errors():
        report, files = write_report(dirs, out_dir, plots=plots, allow_mixed=allow_mixed)
    if as_json:
        print_json({k: v for k, v in asdict(report).items() if k != "results"})
        return
    sys.stdout.write(render_text(report))
    out.print("written: " + ", ".join(str(p) for p in [files.markdown, files.html, *files.plots]))


@app.command()
def ui(
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on (loopback by default: anyone who can reach it and has the token can edit memory).",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free one).")] = 8755,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser; just print the URL.")] = False,
) -> None:
    """A local web app to see and fix memory: sites, episodes (pin, ban, edit, forget), ask the coach, the advice log.
    Prints one line with its URL, which holds a token for this launch; Ctrl-C stops it."""
    try:
        from webcoach.ui.app import UIOptions
        from webcoach.ui.serve import is_loopback, serve
    except ImportError as exc:  # the ui extra is not installed
        err.print(f"error: the UI needs {exc.name}: pip install -e '.[ui]' in the webcoach checkout")
        raise typer.Exit(1) from None

    if not is_loopback(host):
        err.print(
            f"note: listening on {safe(host)}, not loopback: anyone who can reach it and has the URL's token can edit memory"
        )
    options = UIOptions(home=home, namespace=namespace, chroma_url=chroma_url, host=host, port=port)
    with one_line_errors():
        serve(options, open_browser=not no_open, on_url=lambda url: out.print(f"webcoach ui: {url}", markup=False))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
