"""Intents' ``examples`` -> a trained classifier in every state that allows them.

The training itself is a dependency (a ``Trainer``: ``dialogue.nlu.train.train``
in memory, or ``dialogue.nlu.cache.CachedTrainer`` that keeps models on disk), so
compiling stays free of I/O unless the caller asks for a cache. Without the
extra ``[nlu]`` a flow with examples still compiles, with a warning: its
intents then match by keywords and patterns only (the LLM still sees the
examples).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from types import MappingProxyType

from dialogue import schema
from dialogue.authoring.loader import LoadedFlow
from dialogue.errors import Diagnostic, MissingExtra
from dialogue.nlu.data import Scorer, Trainer, TrainingSet
from dialogue.runtime.classify import StateClassifier
from dialogue.runtime.compiled import CompiledFlow
from dialogue.runtime.rules import fold


def training_set(flow: schema.Flow) -> TrainingSet | None:
    """The utterances of every intent with examples (its keywords too), or None."""
    if not flow.nlu.enabled:
        return None
    intents = tuple(
        (name, tuple(dict.fromkeys(fold(t) for t in (*intent.examples, *intent.keywords))))
        for name, intent in flow.intents.items()
        if intent.examples
    )
    if not intents:
        return None
    background: tuple[str, ...] = ()
    if flow.nlu.background:
        from dialogue.nlu.background import BY_LANGUAGE

        own = {text for _, texts in intents for text in texts}
        background = tuple(t for t in map(fold, BY_LANGUAGE[flow.language]) if t not in own)
    return TrainingSet(intents, background)


@functools.lru_cache(maxsize=16)
def _default_trainer(data: TrainingSet) -> Scorer:
    """Train in memory; the same training set in one process is trained once (the
    model is immutable, and ``TrainingSet`` is hashable data)."""
    from dialogue.nlu.train import train

    return train(data)


def attach_classifiers(
    lf: LoadedFlow, compiled: CompiledFlow, trainer: Trainer | None
) -> tuple[CompiledFlow, list[Diagnostic]]:
    """``compiled`` with a classifier in each state whose intents have examples."""
    flow = lf.flow
    data = training_set(flow)
    if data is None:
        return compiled, []
    names = [name for name, _ in data.intents]
    first: tuple[str | int, ...] = ("intents", names[0], "examples")
    if len(names) < 2:
        message = f"only intent '{names[0]}' has examples; nothing to tell it apart from"
        hint = "give examples to at least two intents, or use keywords"
        return compiled, [
            lf.source.diagnostic(first, "nlu_one_intent", message, hint, severity="warning")
        ]
    try:
        model = (trainer or _default_trainer)(data)
    except MissingExtra as exc:
        message = (
            "intents have examples but scikit-learn is not installed: "
            "matching by keywords and patterns only"
        )
        return compiled, [
            lf.source.diagnostic(first, "nlu_not_installed", message, exc.hint, severity="warning")
        ]
    thresholds = {
        name: i.threshold if i.threshold is not None else flow.nlu.threshold
        for name, i in flow.intents.items()
    }
    states = {
        name: replace(st, classifier=StateClassifier(model, st.matcher.names, thresholds))
        for name, st in compiled.states.items()
    }
    globals_ = StateClassifier(model, compiled.global_matcher.names, thresholds)
    return replace(
        compiled,
        states=MappingProxyType(states),
        global_classifier=globals_ if globals_.names else None,
    ), []
