"""Static word embeddings beside the n-grams (``nlu: {embeddings: wordllama}``, extra
``[nlu-embeddings]``).

WordLlama ships its 256-dimension token vectors and its tokenizer inside its wheel,
so nothing is downloaded at run time: a message's vector is the mean of its tokens'
vectors, normalised. Appended to the TF-IDF features (scaled by :data:`WEIGHT`), it
lets the classifier see that "card hasn't come" and "card delivery" are near,
which n-grams cannot; on BANKING77 it rejects 10 points more out-of-scope queries at
equal in-scope accuracy (docs/benchmarks.md). Its tokenizer has few Chinese
characters (most fall back to bytes), so Chinese flows gain little from it.

The library is imported here only, when a flow asks for it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dialogue.errors import MissingExtra

NAMES = ("wordllama",)
"""The embeddings a flow may name in ``nlu.embeddings``."""

WEIGHT = 0.5
"""Scale of the unit-length embedding against the unit-length TF-IDF vector: chosen on
BANKING77's training data (0.5 beat 0.7 and 1.0, which drown the n-grams)."""

DIMENSIONS = 256


class Embedder(Protocol):
    name: str

    def __call__(self, texts: Sequence[str]) -> Any:
        """``(len(texts), dims)`` float32: each text's unit vector times :data:`WEIGHT`."""
        ...


class WordLlamaEmbedder:
    """WordLlama's 256-dimension model, loaded from the files inside its wheel."""

    name = "wordllama"

    def __init__(self) -> None:
        try:
            import wordllama
            from wordllama import WordLlama
        except ImportError as exc:
            raise missing_embeddings() from exc
        # its own loggers say where the files were found: not the host's business
        logging.getLogger("wordllama").setLevel(logging.WARNING)
        package = Path(wordllama.__file__).parent
        self._model = WordLlama.load(cache_dir=package, disable_download=True, dim=DIMENSIONS)

    def __call__(self, texts: Sequence[str]) -> Any:
        vectors = self._model.embed(list(texts), norm=True)
        return np.asarray(vectors, dtype=np.float32) * np.float32(WEIGHT)


@functools.cache
def embedder(name: str) -> Embedder:
    """The embedder called ``name`` (loaded once per process)."""
    if name != "wordllama":
        raise ValueError(f"unknown embeddings {name!r}; known: {', '.join(NAMES)}")
    return WordLlamaEmbedder()


def missing_embeddings() -> MissingExtra:
    return MissingExtra(
        "nlu-embeddings", "word embeddings for the intent classifier", missing="wordllama"
    )
