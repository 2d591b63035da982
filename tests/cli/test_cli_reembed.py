"""`webcoach memory reembed`: a hashing namespace moved to the real MiniLM model (skipped without its files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webcoach.cli import app

HISTORIES = sorted((Path(__file__).parents[1] / "data").glob("browser_use_*.json"))
MODEL = Path(__file__).resolve().parents[3] / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"


@pytest.mark.skipif(not (MODEL / "model.onnx").is_file(), reason=f"no MiniLM files at {MODEL}")
def test_reembed_moves_a_hashing_namespace_to_minilm(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", *map(str, HISTORIES), "--embedder", "hashing"])
    assert result.exit_code == 0, result.stderr
    monkeypatch.setenv("WEBCOACH_EMBED_MODEL_DIR", str(MODEL))
    result = runner.invoke(app, ["memory", "reembed", "--to", "minilm"])
    assert result.exit_code == 0, result.stderr
    assert f"re-embedded {len(HISTORIES)} episodes with all-MiniLM-L6-v2" in result.stdout
    stats = json.loads(runner.invoke(app, ["memory", "stats", "--json"]).stdout)
    assert (stats["embedder"], stats["count"]) == ("all-MiniLM-L6-v2", len(HISTORIES))
    result = runner.invoke(app, ["memory", "search", "cheapest science fiction book"])
    assert result.exit_code == 0 and "science fiction" in result.stdout.lower()
