"""What a flow's intents teach the classifier, and the key its trained model is cached by.

Plain data, no third-party import: the compiler builds a :class:`TrainingSet` for
each flow with examples and hands it to a *trainer* (a dependency: the in-memory
:func:`dialogue.nlu.train.train`, or :class:`dialogue.nlu.cache.CachedTrainer`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dialogue.errors import MissingExtra

FORMAT = 2
"""Bumped whenever features, training or the saved layout change: old caches retrain."""


class Scorer(Protocol):
    """A trained model as a turn uses it (``dialogue.nlu.model.IntentModel``)."""

    @property
    def classes(self) -> tuple[str, ...]: ...

    def probabilities(self, folded: str) -> Sequence[float]:
        """One probability per class (they sum to 1) for a prepared, case-folded message."""
        ...


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """The utterances of each intent (examples, then keywords), already case-folded."""

    intents: tuple[tuple[str, tuple[str, ...]], ...]
    background: tuple[str, ...] = ()
    """Messages of no intent: trained as one more class (``background.NONE``) when given."""
    c: float = 10.0
    """Inverse regularisation strength of the logistic regression."""
    embeddings: str = ""
    """Word embeddings appended to the n-grams (``dialogue.nlu.embeddings``), or none."""

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.labelled)

    @property
    def labelled(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Every class with its utterances: the intents, then the background class."""
        if not self.background:
            return self.intents
        from dialogue.nlu.background import NONE

        return (*self.intents, (NONE, self.background))

    def key(self) -> str:
        """A hash of everything that decides the trained model: same key, same model."""
        blob = json.dumps(
            [FORMAT, self.c, self.intents, self.background, self.embeddings], ensure_ascii=False
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:24]


Trainer = Callable[[TrainingSet], Scorer]
"""What the compiler is given to turn a training set into a model (it may cache)."""


def missing_extra() -> MissingExtra:
    """What a flow with examples raises when the ``[nlu]`` extra (scikit-learn, and
    the numpy it brings) is not installed; the compiler turns it into a warning."""
    return MissingExtra("nlu", "matching intents by their examples", missing="scikit-learn")
