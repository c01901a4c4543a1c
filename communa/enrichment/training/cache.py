"""Embeddings of the training texts, computed once and kept on disk (encoding is the slow part of training)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.models import Encoder

BATCH = 512


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()


class EmbeddingCache:
    """A file of (text hash → float16 embedding) per encoder version, extended as new texts come."""

    def __init__(self, directory: Path, encoder: Encoder) -> None:
        self.path = directory / f"{encoder.name}-{encoder.version}.npz"
        self.encoder = encoder
        self._rows: dict[bytes, int] = {}
        self._vectors = np.zeros((0, encoder.dimension), dtype=np.float16)
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as stored:
                self._vectors = stored["vectors"]
                # Keys are raw 20-byte digests stored as uint8 rows (a bytes dtype would drop trailing zeros).
                self._rows = {row.tobytes(): index for index, row in enumerate(stored["keys"])}
            if len(self._rows) != len(self._vectors):
                raise ValueError(f"{self.path} is inconsistent: delete it and train again")

    def embed(self, texts: Sequence[str], say: Callable[[str], None] | None = None) -> NDArray[np.float32]:
        """Embeddings for ``texts`` (float32), encoding and saving only the ones not seen before."""
        missing = list(dict.fromkeys(text for text in texts if text_key(text) not in self._rows))
        for start in range(0, len(missing), BATCH * 8):
            self._add(missing[start : start + BATCH * 8])
            if say is not None:
                say(f"  encoded {min(start + BATCH * 8, len(missing))}/{len(missing)} new texts")
        rows = np.fromiter((self._rows[text_key(text)] for text in texts), dtype=np.int64, count=len(texts))
        return self._vectors[rows].astype(np.float32)

    def _add(self, texts: list[str]) -> None:
        vectors = np.vstack([self.encoder.encode(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
        first = len(self._vectors)
        self._vectors = np.vstack([self._vectors, vectors.astype(np.float16)])
        for offset, text in enumerate(texts):
            self._rows[text_key(text)] = first + offset
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self._rows, key=self._rows.__getitem__)
        keys = np.frombuffer(b"".join(ordered), dtype=np.uint8).reshape(len(ordered), 20)
        temporary = self.path.with_suffix(".tmp.npz")
        np.savez(temporary, keys=keys, vectors=self._vectors)
        temporary.replace(self.path)
