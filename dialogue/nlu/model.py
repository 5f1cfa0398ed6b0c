"""The trained intent model at run time: learned weights applied to a sparse vector.

scikit-learn's per-call overhead (validation, sparse matrices) costs more than a
whole rule turn, so a turn does not call it: :class:`IntentModel` keeps the fitted
vocabulary, IDF weights and the logistic regression's coefficients as numpy
arrays and scores one message with a handful of array operations (the same
TF-IDF as ``TfidfVectorizer(sublinear_tf=True)``, L2-normalised, then a softmax).
It saves to and loads from one ``.npz`` file without pickle, so a cached model
loads without scikit-learn.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dialogue.nlu.embeddings import Embedder, embedder
from dialogue.nlu.features import features


@dataclass(frozen=True, eq=False, slots=True)
class IntentModel:
    classes: tuple[str, ...]
    vocabulary: Mapping[str, int]
    """Feature (n-gram) -> column."""
    idf: Any
    """``(n_features,)`` float32: the inverse document frequency of each column."""
    weights: Any
    """``(n_features, n_classes)`` float32: one row per feature, so a message reads few rows."""
    bias: Any
    """``(n_classes,)`` float32."""
    embedder: Embedder | None = None
    """Word embeddings appended to the n-grams (``nlu.embeddings``), if the flow asked."""
    embedding_weights: Any = None
    """``(dims, n_classes)`` float32: the coefficients of the embedding's columns."""

    def probabilities(self, folded: str) -> Any:
        """The softmax over every class for a prepared (case-folded) message."""
        vocabulary = self.vocabulary
        counts = Counter(i for f in features(folded) if (i := vocabulary.get(f)) is not None)
        scores = self.bias
        if counts:
            index = np.fromiter(counts.keys(), np.intp, len(counts))
            tf = np.fromiter(counts.values(), np.float64, len(counts))
            values = (1.0 + np.log(tf)) * self.idf[index]
            values /= np.sqrt(values @ values)
            scores = values @ self.weights[index] + scores
        if self.embedder is not None:
            scores = self.embedder((folded,))[0] @ self.embedding_weights + scores
        exp = np.exp(scores - scores.max())
        return exp / exp.sum()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (an ``.npz`` file; plain arrays, no pickle)."""
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        extra = {}
        if self.embedder is not None:
            extra = {
                "embeddings": np.array(self.embedder.name, dtype=str),
                "embedding_weights": self.embedding_weights,
            }
        with open(path, "wb") as out:
            np.savez(
                out,
                classes=np.array(self.classes, dtype=str),
                terms=np.array(terms, dtype=str),
                idf=self.idf,
                weights=self.weights,
                bias=self.bias,
                **extra,
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> IntentModel:
        """Read a model written by :meth:`save` (``ValueError``/``OSError`` if it is not one;
        :class:`~dialogue.errors.MissingExtra` if it needs embeddings not installed)."""
        with np.load(path, allow_pickle=False) as data:
            terms = [str(t) for t in data["terms"]]
            embed, embedding_weights = None, None
            if "embeddings" in data:
                embed = embedder(str(data["embeddings"]))
                embedding_weights = data["embedding_weights"]
            model = cls(
                classes=tuple(str(c) for c in data["classes"]),
                vocabulary={t: i for i, t in enumerate(terms)},
                idf=data["idf"],
                weights=data["weights"],
                bias=data["bias"],
                embedder=embed,
                embedding_weights=embedding_weights,
            )
        n_features, n_classes = len(terms), len(model.classes)
        if model.weights.shape != (n_features, n_classes) or model.bias.shape != (n_classes,):
            raise ValueError(f"{os.fspath(path)}: arrays of the wrong shape")
        if embedding_weights is not None and embedding_weights.shape[1:] != (n_classes,):
            raise ValueError(f"{os.fspath(path)}: arrays of the wrong shape")
        return model
