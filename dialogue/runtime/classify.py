"""Example-trained intent matching as a turn uses it: the best allowed intent, or abstain.

A flow's trained model (a :class:`Scorer`, see ``dialogue.nlu``) gives a
probability to every intent with examples. A state's :class:`StateClassifier`
reads only the intents the state allows (its ``on`` and the flow's global
intents), so it can never pick a move the state does not have; the other
intents' probabilities are not redistributed, so a message meant for an intent
of another state stays unsure here and is left to the LLM or the no-match
ladder. Below its intent's threshold the classifier abstains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from dialogue.runtime.rules import Prepared


class Scorer(Protocol):
    """A flow's trained model (``dialogue.nlu.model.IntentModel``)."""

    @property
    def classes(self) -> tuple[str, ...]: ...

    def probabilities(self, folded: str) -> Sequence[float]: ...


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier made of a message in a state."""

    best: str
    """The allowed intent with the highest probability."""
    confidence: float
    runner_up: str | None
    """The second allowed intent (None when the state allows only one)."""
    runner_up_confidence: float
    threshold: float
    """``best``'s threshold: at or above it the intent is taken."""

    @property
    def taken(self) -> bool:
        return self.confidence >= self.threshold

    @property
    def margin(self) -> float:
        return self.confidence - self.runner_up_confidence

    def candidates(self) -> list[dict[str, object]]:
        """The top candidates, for the LLM prompt (``candidates``)."""
        out: list[dict[str, object]] = [{"name": self.best, "confidence": self.confidence}]
        if self.runner_up is not None:
            out.append({"name": self.runner_up, "confidence": self.runner_up_confidence})
        return out


class StateClassifier:
    """The classifier over the intents one state allows."""

    __slots__ = ("_allowed", "names", "scorer")

    def __init__(
        self, scorer: Scorer, allowed: Sequence[str], thresholds: Mapping[str, float]
    ) -> None:
        index = {name: i for i, name in enumerate(scorer.classes)}
        self.scorer = scorer
        self.names = tuple(n for n in allowed if n in index)
        self._allowed = tuple((index[n], n, thresholds[n]) for n in self.names)

    def classify(self, text: Prepared) -> Classification | None:
        """The best allowed intent with its confidence; None for empty text or no intent."""
        if not text.folded or not self._allowed:
            return None
        p = self.scorer.probabilities(text.folded)
        ranked = sorted(self._allowed, key=lambda a: -p[a[0]])
        (i, best, threshold), second = ranked[0], ranked[1] if len(ranked) > 1 else None
        return Classification(
            best,
            float(p[i]),
            second[1] if second else None,
            float(p[second[0]]) if second else 0.0,
            threshold,
        )
