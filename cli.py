"""The `webcoach` command: a thin layer over the library. Errors are one line on stderr and a non-zero exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .condenser.errors import WebcoachError

if TYPE_CHECKING:
    from .condenser.episode import Episode
    from .condenser.store import EpisodeStore

app = typer.Typer(
    name="webcoach",
    help="Cross-session memory for browser agents: condense past runs into episodes, search them, coach new runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
memory_app = typer.Typer(help="Inspect and manage the episode store.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

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


@contextmanager
def one_line_errors() -> Iterator[None]:
    try:
        yield
    except WebcoachError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def open_store(home: Path | None, namespace: str | None, chroma_url: str | None, embedder: str | None = None) -> EpisodeStore:
    from .condenser.store import EpisodeStore

    return EpisodeStore(home=home, namespace=namespace, url=chroma_url, embedder=embedder)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def episode_line(ep: Episode) -> str:
    colour = {"success": "green", "failure": "red"}.get(ep.outcome.value, "yellow")
    return f"[bold]{ep.id}[/bold] [{colour}]{ep.outcome.value:<7}[/{colour}] {ep.domain or '-':<24} {ep.task}"


def show_episode(ep: Episode) -> None:
    out.print(f"[bold]{ep.id}[/bold]  {ep.task}")
    out.print(f"  outcome: {ep.outcome.value} (by {ep.outcome_by}{': ' + ep.outcome_reason if ep.outcome_reason else ''})")
    out.print(
        f"  site: {ep.start_url or '-'}   steps: {ep.step_count}   created: {ep.created_at:%Y-%m-%d %H:%M}   source: {ep.source_kind}, {ep.condenser}"
    )
    out.print(f"  usefulness: {ep.usefulness:.2f} (helped {ep.helped}, hurt {ep.hurt})")
    out.print(f"\n{ep.summary}")
    for title, items in (
        ("Key steps", ep.key_steps),
        ("What went wrong", [f"[{f.kind}] {f.detail}" for f in ep.failure_modes]),
        ("What worked", ep.what_worked),
        ("Lessons", ep.lessons),
    ):
        if items:
            out.print(f"\n[bold]{title}[/bold]")
            for item in items:
                out.print(f"  - {item}", markup=False)


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
    from .condenser.condense import condense

    if outcome is not None and outcome not in ("success", "failure"):
        err.print(f"error: --outcome must be 'success' or 'failure', not {outcome!r}")
        raise typer.Exit(2)
    results: list[dict[str, Any]] = []
    with one_line_errors(), open_store(home, namespace, chroma_url, embedder) as store:
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        )
        with progress:
            bar = progress.add_task("ingesting", total=len(sources))
            for path in sources:
                progress.update(bar, description=f"ingesting {path.name}")
                try:
                    episode = condense(
                        path, task=task, llm=llm, outcome=outcome, outcome_by="human" if outcome else None, secrets=secret or ()
                    )
                    is_new = not store.contains(episode.id)
                    store.add(episode)
                    results.append(
                        {
                            "file": str(path),
                            "id": episode.id,
                            "status": "added" if is_new else "duplicate",
                            "outcome": episode.outcome.value,
                            "condenser": episode.condenser,
                        }
                    )
                except WebcoachError as exc:  # one bad file must not stop (or undo) the others
                    results.append({"file": str(path), "status": "error", "error": str(exc)})
                progress.advance(bar)
    failed = [r for r in results if r["status"] == "error"]
    if as_json:
        print_json(results)
    else:
        for r in results:
            if r["status"] == "error":
                err.print(f"[red]error:[/red] {r['error']}")
            else:
                note = "" if r["condenser"] in ("rules",) or r["condenser"].startswith("llm:") else f"  ({r['condenser']})"
                out.print(f"{r['status']:<9} {r['id']}  {r['outcome']:<7} {r['file']}{note}", markup=False)
        added = sum(r["status"] == "added" for r in results)
        out.print(f"{added} added, {sum(r['status'] == 'duplicate' for r in results)} already stored, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


@memory_app.command("list")
def memory_list(
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many, newest first.")] = 50,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """List stored episodes, newest first."""
    with one_line_errors(), open_store(home, namespace, chroma_url) as store:
        episodes = store.list(limit=limit)
        total = store.count()
    if as_json:
        print_json([e.model_dump(mode="json") for e in episodes])
        return
    if not episodes:
        out.print("no episodes stored yet: add some with `webcoach ingest` or `webcoach run`")
        return
    for ep in episodes:
        out.print(episode_line(ep))
    if total > len(episodes):
        out.print(f"… {total - len(episodes)} more (use --limit)")


@memory_app.command("show")
def memory_show(
    episode_id: Annotated[str, typer.Argument(metavar="ID", help="Episode id (as printed by list/search).")],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show one episode in full."""
    with one_line_errors(), open_store(home, namespace, chroma_url) as store:
        ep = store.get(episode_id)
    if as_json:
        print_json(ep.model_dump(mode="json"))
    else:
        show_episode(ep)


@memory_app.command("search")
def memory_search(
    query: Annotated[str, typer.Argument(help="A task description to find similar past runs for.")],
    url: Annotated[str | None, typer.Option("--url", help="The site the task is on; same-site episodes rank higher.")] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="How many hits.")] = 5,
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Find the stored episodes most relevant to a task (similarity, recency, usefulness, same site)."""
    with one_line_errors(), open_store(home, namespace, chroma_url) as store:
        hits = store.search(query, url=url, k=k)
    if as_json:
        print_json(
            [
                {
                    "score": h.score,
                    "similarity": h.similarity,
                    "recency": h.recency,
                    "usefulness": h.usefulness,
                    "same_site": h.same_site,
                    "episode": h.episode.model_dump(mode="json"),
                }
                for h in hits
            ]
        )
        return
    if not hits:
        out.print("no episodes stored yet in this namespace")
        return
    for h in hits:
        out.print(f"{h.score:5.2f}  " + episode_line(h.episode))
        if h.episode.lessons:
            out.print(f"       lesson: {h.episode.lessons[0]}", markup=False)


@memory_app.command("stats")
def memory_stats(home: Home = None, namespace: Namespace = None, chroma_url: ChromaUrl = None, as_json: JsonOut = False) -> None:
    """Counts by outcome and site, the embedder in use and where the data lives."""
    from dataclasses import asdict

    with one_line_errors(), open_store(home, namespace, chroma_url) as store:
        stats = store.stats()
    data = asdict(stats)
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        table.add_row(
            key.replace("_", " "), ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        )
    out.print(table)


@memory_app.command("forget")
def memory_forget(
    episode_id: Annotated[str, typer.Argument(metavar="ID")],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
) -> None:
    """Delete one episode."""
    with one_line_errors(), open_store(home, namespace, chroma_url) as store:
        removed = store.forget(episode_id)
    if not removed:
        err.print(f"error: no episode {episode_id} in this namespace")
        raise typer.Exit(1)
    out.print(f"forgot {episode_id}")


@memory_app.command("export")
def memory_export(
    file: Annotated[Path, typer.Argument(metavar="FILE.jsonl")],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
) -> None:
    """Write every episode of the namespace to a JSONL file (one episode per line)."""
    with one_line_errors(), open_store(home, namespace, chroma_url) as store:
        n = store.export(file)
    out.print(f"exported {n} episodes to {file}")


@memory_app.command("import")
def memory_import(
    file: Annotated[Path, typer.Argument(metavar="FILE.jsonl")],
    home: Home = None,
    namespace: Namespace = None,
    chroma_url: ChromaUrl = None,
    embedder: Embedder = None,
) -> None:
    """Add the episodes of a JSONL export (validated whole first; episodes already stored are skipped)."""
    with one_line_errors(), open_store(home, namespace, chroma_url, embedder) as store:
        added, skipped = store.import_(file)
    out.print(f"imported {added} episodes, skipped {skipped} already stored")


@memory_app.command("setup-embedder")
def memory_setup_embedder() -> None:
    """Download the all-MiniLM-L6-v2 ONNX model (needs internet) so searches use real sentence embeddings."""
    from .condenser.store import download_default_model

    with one_line_errors():
        path = download_default_model()
    out.print(f"MiniLM model ready in {path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
