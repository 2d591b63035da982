"""What a new user gets wrong, invoked for real: typos in namespaces, options and settings, odd files, huge tasks. Each
is one line on stderr (or a clear answer) and leaves the data as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.errors import NamespaceNotFoundError
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).parents[1] / "data"
HISTORIES = sorted(DATA.glob("browser_use_*.json"))
TASK = "Find the cheapest science fiction book on Acme Books"
runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def namespaces() -> list[str]:
    try:
        with EpisodeStore(create=False) as store:
            return store.namespaces()
    except NamespaceNotFoundError as exc:
        return list(exc.existing)


@pytest.fixture
def stored() -> None:
    code, _, err = invoke("ingest", *map(str, HISTORIES), "--task", TASK)
    assert code == 0, err


# -- item 2: a namespace typo ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("stored")
def test_a_namespace_typo_never_destroys_a_backup(tmp_path: Path) -> None:
    backup = tmp_path / "b.jsonl"
    code, out, _ = invoke("memory", "export", str(backup))
    assert code == 0 and len(backup.read_text().splitlines()) == len(HISTORIES)
    before = backup.read_bytes()

    code, _, err = invoke("memory", "export", str(backup), "-n", "defualt")
    assert code == 1 and "no namespace 'defualt'" in one_line(err) and "existing namespaces are default" in err
    assert backup.read_bytes() == before

    some_id = json.loads(before.splitlines()[0])["id"]
    for args in (
        ["memory", "list"],
        ["memory", "stats"],
        ["memory", "search", "cheap books"],
        ["memory", "show", some_id],
        ["memory", "forget", some_id],
        ["advise", "cheap books"],
    ):
        code, out, err = invoke(*args, "-n", "defualt")
        assert code == 1 and "existing namespaces are default" in one_line(err), (args, out, err)
    assert namespaces() == ["default"]  # nothing was created by reading


@pytest.mark.usefixtures("stored")
def test_importing_a_bad_file_into_a_mistyped_namespace_creates_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "an episode"}\n')
    code, _, err = invoke("memory", "import", str(bad), "-n", "defualt")
    assert code == 1 and "line 1 is not an episode" in one_line(err)
    assert namespaces() == ["default"]


def test_export_of_an_empty_namespace_keeps_the_file(tmp_path: Path) -> None:
    EpisodeStore(namespace="empty", embedder="hashing").close()
    target = tmp_path / "keep.jsonl"
    target.write_text("precious\n")
    code, _, err = invoke("memory", "export", str(target), "-n", "empty")
    assert code == 1 and "left as it was" in one_line(err)
    assert target.read_text() == "precious\n"
    code, _, _ = invoke("memory", "export", str(tmp_path / "new.jsonl"), "-n", "empty")
    assert code == 0 and (tmp_path / "new.jsonl").read_text() == ""  # a new file may be empty


def test_read_only_commands_on_a_fresh_install_create_nothing() -> None:
    code, _, err = invoke("memory", "list")
    assert code == 1 and "nothing stored" in one_line(err) and "webcoach ingest" in err
    code, out, _ = invoke("advise", "Book a table for two")
    assert code == 0 and "No advice" in out
    assert not (Path(os.environ["WEBCOACH_HOME"]) / "chroma").exists()


# -- items 4 and 7: settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://[::1", "ftp://x", "http://"])
def test_bad_chroma_urls_are_one_line(url: str) -> None:
    code, _, err = invoke("memory", "stats", "--chroma-url", url)
    line = one_line(err)
    assert code == 1 and "--chroma-url" in line and "--url" not in line.replace("--chroma-url", "")


def test_bad_embedder_in_the_environment_fails_like_the_option() -> None:
    code, _, err = invoke("ingest", str(HISTORIES[0]), "--task", TASK, "--embedder", "bogus")
    assert code == 1 and "embedder 'bogus' is not known" in one_line(err)
    code, _, err = invoke("ingest", str(HISTORIES[0]), "--task", TASK, env={"WEBCOACH_EMBEDDER": "bogus"})
    assert code == 1 and "embedder 'bogus' is not known" in one_line(err)
    assert namespaces() == []


def test_embedder_from_the_environment_is_used(tmp_path: Path) -> None:
    code, _, err = invoke("ingest", str(HISTORIES[0]), "--task", TASK, env={"WEBCOACH_EMBEDDER": "hashing"})
    assert code == 0, err
    code, out, _ = invoke("memory", "stats", "--json")
    assert json.loads(out)["embedder"] == "hashing-v1"
    # Asking for MiniLM where it cannot be loaded is refused, not silently replaced by hashing.
    empty = tmp_path / "no-model"
    empty.mkdir()
    env = {"WEBCOACH_EMBEDDER": "minilm", "WEBCOACH_EMBED_MODEL_DIR": str(empty)}
    from webcoach.memory.embed import find_model_dir

    if find_model_dir(empty) is None:
        code, _, err = invoke("ingest", str(HISTORIES[1]), "--task", TASK, "-n", "other", env=env)
        assert code == 1 and "all-MiniLM-L6-v2" in one_line(err)
        assert namespaces() == ["default"]


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_bad_timeouts_and_limits_in_the_environment_are_one_line(value: str) -> None:
    for var in ("WEBCOACH_CHROMA_TIMEOUT", "WEBCOACH_MAX_INPUT_MB"):
        code, _, err = invoke("ingest", str(HISTORIES[0]), "--task", TASK, env={var: value})
        assert code == 1 and var in err, err
        if var == "WEBCOACH_CHROMA_TIMEOUT":
            assert len(err.strip().splitlines()) == 1


# -- item 9: small things --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize(
    "args", [["memory", "list", "--limit", "0"], ["memory", "list", "--limit", "-1"], ["memory", "search", "x", "-k", "0"]]
)
def test_limits_below_one_are_refused(args: list[str]) -> None:
    code, out, err = invoke(*args)
    assert code == 1 and "must be 1 or more" in one_line(err) and "stored yet" not in out


def test_a_har_named_zip_is_read(shop_har: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "run.zip"
    renamed.write_bytes(shop_har.read_bytes())
    code, out, err = invoke("ingest", str(renamed), "--task", TASK)
    assert code == 0 and "1 added" in out, err
    text = tmp_path / "notes.zip"
    text.write_text("just some notes\n")
    code, _, err = invoke("ingest", str(text), "--task", TASK)
    assert code == 1 and "not a zip file (it looks like text)" in err and "corrupt" not in err


def test_task_replacing_a_historys_own_task_is_said() -> None:
    # A subprocess: the warning reaches a real terminal's stderr (under pytest, logging is captured instead).
    def ingest(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "webcoach.cli", "ingest", *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=120, env={**os.environ, "WEBCOACH_EMBEDDER": "hashing"}
        )

    done = ingest(str(HISTORIES[0]), "--task", "Something else entirely")
    assert done.returncode == 0, done.stderr
    assert "stored with the task given instead" in done.stderr and "Something else entirely" in done.stderr
    done = ingest(str(HISTORIES[1]))
    assert done.returncode == 0 and "instead" not in done.stderr


def test_arguments_have_help() -> None:
    for command, text in (("forget", "Episode id"), ("export", "Where to write"), ("import", "memory export")):
        code, out, _ = invoke("memory", command, "--help")
        assert code == 0 and text in out, out


@pytest.mark.usefixtures("stored")
def test_stats_is_a_table_not_a_python_list() -> None:
    code, out, _ = invoke("memory", "stats")
    assert code == 0 and "[(" not in out and "127.0.0.1:8765: " in out and "failure: " in out


@pytest.mark.usefixtures("stored")
def test_advise_explain_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from webcoach import cli

    monkeypatch.setattr(cli.out, "_width", 80)  # an 80-column terminal
    code, out, _ = invoke("advise", "Find the cheapest history book on Acme Books", "--explain", "--json")
    ids = [h["episode"]["id"] for h in json.loads(out)["hits"]]
    code, out, _ = invoke("advise", "Find the cheapest history book on Acme Books", "--explain")
    assert code == 0 and ids
    table = out[out.index("Ranking") :].splitlines()
    assert all(len(line) <= 80 for line in table), "\n".join(table)
    for episode_id in ids:
        assert any(episode_id in line for line in table), episode_id
    assert len([line for line in table if "Find the cheapest" in line]) == len(ids)  # a line per hit, not a word


def test_long_tasks_are_clipped_in_listings() -> None:
    huge = "Find " + "the cheapest book " * 6400  # ~115 KB
    code, _, err = invoke("ingest", str(HISTORIES[0]), "--task", huge)
    assert code == 0, err[-500:]
    for args in (["memory", "list"], ["memory", "search", "cheapest book"]):
        code, out, _ = invoke(*args)
        assert code == 0 and 0 < max(len(line) for line in out.splitlines()) < 400, args


def test_interrupted_ingest_prints_what_it_stored(tmp_path: Path) -> None:
    """Ctrl-C while the second file is being read: the first stays stored and the summary says so."""
    fifo = tmp_path / "slow.json"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "webcoach.cli", "ingest", str(HISTORIES[0]), str(fifo), str(HISTORIES[1]), "--task", TASK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WEBCOACH_EMBEDDER": "hashing"},
    )
    writer = None
    try:
        deadline = time.monotonic() + 60
        while writer is None:  # the fifo opens for writing once ingest has reached it: the first file is stored
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "1 added, 0 already stored, 0 failed; stopped after 1 of 3 files" in out
    assert err.strip().splitlines()[-1] == "interrupted: 1 added and stored, 2 files not ingested (run again for them)"
    with EpisodeStore() as store:
        assert store.count() == 1


def test_error_lines_print_brackets_as_they_are(tmp_path: Path) -> None:
    """Paths and URLs in messages are not rich markup (a "[/b]" in a path raised MarkupError, "[bold]" vanished)."""
    odd = tmp_path / "runs[" / "b].zip"
    code, out, err = invoke("ingest", str(odd), str(tmp_path / "[bold]x.json"), "--task", TASK)
    assert code == 1 and f"{odd}: no such file" in err and "[bold]x.json: no such file" in err, (out, err)
    code, _, err = invoke("memory", "show", "[/b]", "-n", "nothing-[here]")
    assert code == 1 and len(err.strip().splitlines()) == 1
