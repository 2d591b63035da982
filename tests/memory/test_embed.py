"""Embedders: the hashing fallback, and the real OnnxEmbedder code run on a tiny ONNX model + tokenizer built here."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel
from webcoach.errors import ConfigError
from webcoach.memory import embed
from webcoach.memory.embed import (
    HASHING_NAME,
    MINILM_NAME,
    Embedder,
    HashingEmbedder,
    OnnxEmbedder,
    chroma_model_dir,
    resolve_embedder,
)

WORDS = ["red", "apple", "pie", "tart", "sweet", "blue", "car", "engine", "fast", "wheel", "book", "dune", "sand", "desert"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def build_toy_model(
    folder: Path, *, dim: int | str = 16, inputs: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")
) -> Path:
    """model.onnx (Gather from a random table: token id -> vector) + tokenizer.json (WordLevel, BERT-style specials)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}
    tokenizer = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.save(str(folder / "tokenizer.json"))

    width = 16 if isinstance(dim, str) else dim
    # Every row is non-zero, [PAD] included: a pooling that ignored the attention mask would change with padding.
    table = np.random.default_rng(7).standard_normal((len(vocab), width)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)],
        "toy",
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"]) for name in inputs],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", dim])],
        initializer=[numpy_helper.from_array(table, name="table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    return folder


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


@pytest.fixture(autouse=True)
def _no_model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real Chroma cache must not leak into these tests; each test sees the fallback warning afresh."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(embed, "_fallback_warned", False)


# -- hashing ---------------------------------------------------------------------------------------------------------


def test_hashing_vectors_are_unit_length_and_rank_related_texts_higher() -> None:
    emb = HashingEmbedder()
    lasagna, lasagna2, flight, empty = emb.embed(
        ["Find a vegetarian lasagna recipe", "search for vegetarian lasagna recipes", "Book a flight to Paris", ""]
    )
    assert emb.name == HASHING_NAME and emb.dim == 384 and isinstance(emb, Embedder)
    for vector in (lasagna, lasagna2, flight, empty):
        assert len(vector) == 384
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)
    assert cos(lasagna, lasagna2) > 0.3 > cos(lasagna, flight)
    assert emb.embed([]) == []


def test_hashing_is_stable_across_processes() -> None:
    """Stored vectors must match query vectors computed in any later process (Python's hash() is salted per process)."""
    texts = ["Find a vegetarian lasagna recipe (allrecipes.com)", "buy Dune"]
    code = (
        f"import json; from webcoach.memory.embed import HashingEmbedder; print(json.dumps(HashingEmbedder().embed({texts!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}
    )
    assert np.allclose(json.loads(out.stdout), HashingEmbedder().embed(texts), atol=1e-7)


def test_hashing_is_fast() -> None:
    texts = [
        f"Find the cheapest {i} item in the electronics section and add it to the cart, then check out " * 5 for i in range(500)
    ]
    start = time.perf_counter()
    HashingEmbedder().embed(texts)
    rate = len(texts) / (time.perf_counter() - start)
    assert rate > 1000, f"{rate:.0f} texts/s"


# -- ONNX ------------------------------------------------------------------------------------------------------------


def test_onnx_embedder_shape_normalisation_and_similarity(tmp_path: Path) -> None:
    emb = OnnxEmbedder(build_toy_model(tmp_path / "m", dim=24))
    assert emb.name == MINILM_NAME and emb.dim == 24 and isinstance(emb, Embedder)
    vectors = emb.embed(["red apple pie", "red apple tart", "blue car engine", ""])
    assert [len(v) for v in vectors] == [24] * 4
    for vector in vectors:
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    pie, tart, car, _ = vectors
    # Shared tokens share rows of the table, so mean pooling brings texts with common words together.
    assert cos(pie, tart) > cos(pie, car) + 0.2
    assert emb.embed([]) == []


def test_onnx_batching_and_padding_do_not_change_vectors(tmp_path: Path) -> None:
    emb = OnnxEmbedder(build_toy_model(tmp_path / "m"), batch_size=2)
    texts = ["sweet red apple pie with spice", "dune", "blue car", "planet of sand and spice and desert wind", "book"]
    together = np.array(emb.embed(texts))
    alone = np.array([emb.embed([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-6)


def test_onnx_truncates_at_256_tokens(tmp_path: Path) -> None:
    emb = OnnxEmbedder(build_toy_model(tmp_path / "m"))
    words = (WORDS * 30)[:400]
    # [CLS] + 254 words + [SEP] = 256 tokens: anything past word 254 is cut.
    assert np.allclose(emb.embed([" ".join(words)])[0], emb.embed([" ".join(words[:254])])[0], atol=1e-6)
    assert not np.allclose(emb.embed([" ".join(words)])[0], emb.embed([" ".join(words[:200])])[0], atol=1e-6)


def test_onnx_feeds_only_declared_inputs_and_probes_a_symbolic_dim(tmp_path: Path) -> None:
    emb = OnnxEmbedder(build_toy_model(tmp_path / "m", dim="hidden", inputs=("input_ids",)))
    assert emb.dim == 16
    assert np.linalg.norm(emb.embed(["red apple"])[0]) == pytest.approx(1.0, abs=1e-5)


def test_onnx_missing_or_broken_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lacks model\.onnx, tokenizer\.json"):
        OnnxEmbedder(tmp_path / "nothing")
    folder = build_toy_model(tmp_path / "m")
    (folder / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="cannot load"):
        OnnxEmbedder(folder)


# -- resolution ------------------------------------------------------------------------------------------------------


def test_resolve_falls_back_to_hashing_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="webcoach"):
        first = resolve_embedder(None, None)
        second = resolve_embedder(None, None)
    assert isinstance(first, HashingEmbedder) and isinstance(second, HashingEmbedder)
    warnings = [r for r in caplog.records if r.name == "webcoach"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "search quality is reduced" in message
    assert "webcoach memory setup-embedder" in message and "WEBCOACH_EMBED_MODEL_DIR" in message
    assert "\n" not in message


def test_resolve_finds_the_model_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = build_toy_model(chroma_model_dir(), dim=8)  # Chroma's own cache layout under $HOME
    assert isinstance(found := resolve_embedder(None, None), OnnxEmbedder) and found.model_dir == cached
    monkeypatch.setenv("WEBCOACH_EMBED_MODEL_DIR", str(build_toy_model(tmp_path / "env", dim=12)))
    assert resolve_embedder("minilm", None).dim == 12
    assert resolve_embedder(None, build_toy_model(tmp_path / "arg", dim=20)).dim == 20
    assert isinstance(resolve_embedder("hashing", None), HashingEmbedder)
    assert isinstance(resolve_embedder("hashing-v1", None), HashingEmbedder)


def test_resolve_explicit_minilm_without_files_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match=r"all-MiniLM-L6-v2 was asked for but its files are not in .*setup-embedder"):
        resolve_embedder("minilm", None)
    with pytest.raises(ConfigError, match=r"'minilm'.*'hashing'"):
        resolve_embedder("word2vec", None)
    assert not caplog.records
