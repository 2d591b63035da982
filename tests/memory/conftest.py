"""Fixtures for the store's tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings
from webcoach.condenser.episode import SCHEMA_VERSION, Episode
from webcoach.memory.embed import HashingEmbedder
from webcoach.memory.records import encode


def _layout2_store(path: Path, episodes: Sequence[Episode]) -> None:
    """An embedded store as webcoach wrote it before layout 3: every record in Chroma's metadata (layout 2)."""
    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    try:
        collection = client.get_or_create_collection(
            "webcoach-default",
            embedding_function=None,
            metadata={"embedder": "hashing-v1", "embedder_dim": 384, "schema_version": SCHEMA_VERSION, "layout": 2},
            configuration={"hnsw": {"space": "cosine"}},
        )
        for start in range(0, len(episodes), 500):  # under Chroma's largest batch
            chunk = episodes[start : start + 500]
            collection.add(
                ids=[e.id for e in chunk],
                embeddings=HashingEmbedder().embed([e.embedding_text() for e in chunk]),  # type: ignore[arg-type]
                metadatas=[encode(e) for e in chunk],  # type: ignore[misc]
            )
    finally:
        client.close()  # type: ignore[attr-defined]


@pytest.fixture
def layout2_store() -> Callable[[Path, Sequence[Episode]], None]:
    """`layout2_store(path, episodes)` writes an embedded store the way webcoach did before layout 3."""
    return _layout2_store
