"""Text embedders for episode retrieval: all-MiniLM-L6-v2 through onnxruntime when its files are on disk, else a hashing
fallback that needs nothing. Embeddings are always computed here and handed to Chroma, so Chroma never downloads its own."""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from webcoach.errors import ConfigError
from webcoach.memory.model_fetch import FOLDER, cache_root, download_enabled, download_model
from webcoach.settings import ENV_EMBED_DOWNLOAD, ENV_EMBED_MODEL_DIR

logger = logging.getLogger("webcoach")

HASHING_NAME = "hashing-v1"
MINILM_NAME = "all-MiniLM-L6-v2"
MODEL_FILES = ("model.onnx", "tokenizer.json")
ALIASES = {"hashing": HASHING_NAME, HASHING_NAME: HASHING_NAME, "minilm": MINILM_NAME, MINILM_NAME: MINILM_NAME}
SETUP_HINT = f"run `webcoach memory setup-embedder` (downloads it; needs internet) or set {ENV_EMBED_MODEL_DIR} to a folder holding model.onnx and tokenizer.json"

_WORD_RE = re.compile(r"\w+")
_fallback_warned = False
_download_failed: str | None = None  # why the first-use download failed in this process: not tried again
_onnx_cache: dict[Path, OnnxEmbedder] = {}
_onnx_cache_lock = threading.Lock()


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors; `name` and `dim` are recorded with a collection so it is never queried with another."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class MissingEmbedder:
    """Stands in for a namespace's embedder whose model files are gone: commands that only read, list, export or
    forget work without it; the first thing that needs a vector (a search, an add) gets `reason`."""

    def __init__(self, name: str, dim: int, reason: str) -> None:
        self.name = name
        self.dim = dim
        self.reason = reason

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise ConfigError(self.reason)


class HashingEmbedder:
    """Signed feature hashing of word unigrams, bigrams and per-word char 3-grams. Offline and fast, but blind to synonyms.

    crc32 (not Python's per-process salted hash()) keeps vectors identical across processes and runs."""

    name = HASHING_NAME

    # Char 3-grams outnumber words ~5 to 1: weight them down so whole words dominate, while typos and
    # inflections (search/searching) still overlap.
    _WORD, _BIGRAM, _CHAR = 1.0, 0.7, 0.3

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def _features(self, text: str) -> tuple[list[int], list[float]]:
        words = _WORD_RE.findall(text.lower())
        keys = [f"w {w}" for w in words]
        weights = [self._WORD] * len(keys)
        bigrams = [f"b {a} {b}" for a, b in itertools.pairwise(words)]
        keys += bigrams
        weights += [self._BIGRAM] * len(bigrams)
        for word in words:
            padded = f"<{word}>"
            grams = [f"c {padded[i : i + 3]}" for i in range(len(padded) - 2)]
            keys += grams
            weights += [self._CHAR] * len(grams)
        if not keys:
            keys, weights = ["<empty>"], [1.0]  # a zero vector has no cosine: give empty text a vector of its own
        return [zlib.crc32(k.encode()) for k in keys], weights

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            hashes, weights = self._features(text)
            h = np.asarray(hashes, dtype=np.uint64)
            signs = np.where((h >> np.uint64(31)) & np.uint64(1), -1.0, 1.0)
            out[row] = np.bincount((h % np.uint64(self.dim)).astype(np.intp), weights=signs * weights, minlength=self.dim)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: list[list[float]] = (out / norms).tolist()
        return result


class OnnxEmbedder:
    """A sentence-transformers model exported to ONNX (all-MiniLM-L6-v2 by default): mean pooling over the attention mask,
    L2-normalised, as sentence-transformers computes it. One InferenceSession, reused for every call."""

    name = MINILM_NAME

    def __init__(self, model_dir: str | os.PathLike[str], *, max_tokens: int = 256, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        missing = [f for f in MODEL_FILES if not (self.model_dir / f).is_file()]
        if missing:
            raise ConfigError(f"embedding model folder {self.model_dir} lacks {', '.join(missing)}: {SETUP_HINT}")
        self._batch_size = batch_size
        try:
            self._tokenizer: Any = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises plain Exception on a malformed file
            raise ConfigError(f"cannot load {self.model_dir / 'tokenizer.json'}: {exc}") from exc
        self._tokenizer.enable_truncation(max_length=max_tokens)
        pad_id = self._tokenizer.token_to_id("[PAD]")
        # length=None pads each batch to its longest text, not to max_tokens: short task texts stay cheap.
        self._tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token="[PAD]", length=None)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.model_dir / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's errors are not exported under stable names
            raise ConfigError(f"cannot load {self.model_dir / 'model.onnx'}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        outputs = [o.name for o in self._session.get_outputs()]
        self._output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        shape = next(o.shape for o in self._session.get_outputs() if o.name == self._output)
        self.dim = shape[-1] if isinstance(shape[-1], int) else len(self._forward(["dimension probe"])[0])

    def _forward(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run([self._output], {k: v for k, v in feeds.items() if k in self._inputs})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        norms[norms == 0] = 1e-12
        return np.asarray(pooled / norms, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # Batch texts of similar length together so dynamic padding pads little.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            out[chunk] = self._forward([texts[i] for i in chunk])
        result: list[list[float]] = out.tolist()
        return result


def chroma_model_dir() -> Path:
    """Where Chroma's own downloader puts all-MiniLM-L6-v2 (model.onnx + tokenizer.json and friends)."""
    return cache_root() / FOLDER


def has_model_files(folder: Path) -> bool:
    return all((folder / f).is_file() for f in MODEL_FILES)


def model_dir_candidates(model_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where to look for the MiniLM files, in order: `model_dir`, else WEBCOACH_EMBED_MODEL_DIR; then Chroma's cache."""
    first = model_dir if model_dir is not None else os.environ.get(ENV_EMBED_MODEL_DIR)
    candidates = [Path(first).expanduser()] if first else []
    return [*candidates, chroma_model_dir()]


def find_model_dir(model_dir: str | os.PathLike[str] | None = None) -> Path | None:
    return next((c for c in model_dir_candidates(model_dir) if has_model_files(c)), None)


def load_onnx(model_dir: Path) -> OnnxEmbedder:
    """One OnnxEmbedder per folder per process: building a session costs a few hundred ms."""
    key = model_dir.resolve()
    with _onnx_cache_lock:
        if key not in _onnx_cache:
            _onnx_cache[key] = OnnxEmbedder(key)
        return _onnx_cache[key]


def canonical_name(name: str) -> str:
    """'minilm' / 'hashing' (any case) or a full embedder name -> the full name."""
    key = name.strip()
    full = ALIASES.get(key) or ALIASES.get(key.lower())
    if full is None:
        raise ConfigError(f"embedder {name!r} is not known: use 'minilm' ({MINILM_NAME}) or 'hashing' ({HASHING_NAME})")
    return full


def resolve_embedder(
    name: str | None, model_dir: str | os.PathLike[str] | None = None, *, download: bool | None = None
) -> Embedder:
    """'minilm', 'hashing' (or their full names), or None for the best available: MiniLM when its files are found or,
    the first time, can be downloaded into Chroma's cache (unless `download`/WEBCOACH_EMBED_DOWNLOAD says not to), else
    the hashing embedder with one warning per process."""
    global _download_failed
    if name is not None and canonical_name(name) == HASHING_NAME:
        return HashingEmbedder()
    found = find_model_dir(model_dir)
    if found is not None:
        return load_onnx(found)
    looked = " or ".join(str(c) for c in model_dir_candidates(model_dir))
    why = f"downloads are off ({ENV_EMBED_DOWNLOAD})"
    if download_enabled(download):
        if _download_failed is None:
            try:
                return load_onnx(download_model())
            except ConfigError as exc:
                _download_failed = str(exc)
        why = _download_failed
    if name is not None:
        raise ConfigError(f"embedder {MINILM_NAME} was asked for but its files are not in {looked} ({why}): {SETUP_HINT}")
    _warn_fallback(looked, why)
    return HashingEmbedder()


def _warn_fallback(looked: str, why: str) -> None:
    global _fallback_warned
    if _fallback_warned:
        return
    _fallback_warned = True
    logger.warning(
        "webcoach: embedding model %s not found (looked in %s; %s); using the %s hashing embedder, so search quality "
        "is reduced (it misses synonyms). To fix: %s",
        MINILM_NAME,
        looked,
        why.split("; without internet")[0],
        HASHING_NAME,
        SETUP_HINT,
    )
