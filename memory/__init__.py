"""Episode memory: the Chroma episode store, embeddings, ranking, migrations and the store lock."""
