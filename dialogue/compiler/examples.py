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
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from dialogue import schema
from dialogue.authoring.loader import LoadedFlow
from dialogue.errors import Diagnostic, MissingExtra
from dialogue.nlu.data import Scorer, Trainer, TrainingSet, missing_extra
from dialogue.nlu.features import features
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
        background = tuple(t for t in map(fold, BY_LANGUAGE.get(flow.language, ())) if t not in own)
    embeddings = "" if flow.nlu.embeddings == "none" else flow.nlu.embeddings
    return TrainingSet(intents, background, embeddings=embeddings)


@functools.lru_cache(maxsize=16)
def _default_trainer(data: TrainingSet) -> Scorer:
    """Train in memory; the same training set in one process is trained once (the
    model is immutable, and ``TrainingSet`` is hashable data)."""
    try:
        from dialogue.nlu.train import train
    except ImportError as exc:  # numpy, imported by the model, comes with the extra
        raise missing_extra() from exc
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
            f"intents have examples but {exc.missing} is not installed: "
            "matching by keywords and patterns only"
        )
        return compiled, [
            lf.source.diagnostic(first, "nlu_not_installed", message, exc.hint, severity="warning")
        ]
    thresholds = {
        name: i.threshold if i.threshold is not None else flow.nlu.cutoff
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


# --------------------------------------------------------------------------- lint

CONFUSABLE = 0.6
"""Cosine similarity of two intents' word profiles above which they are reported."""


def example_warnings(lf: LoadedFlow) -> list[Diagnostic]:
    """Intents with too few examples, and pairs whose example sets overlap."""
    flow = lf.flow
    if not flow.nlu.enabled:
        return []
    out = []
    having = {n: i for n, i in flow.intents.items() if i.examples}
    for name, intent in having.items():
        if len(intent.examples) < flow.nlu.min_examples:
            out.append(
                lf.source.diagnostic(
                    ("intents", name, "examples"),
                    "few_examples",
                    f"intent '{name}' has {len(intent.examples)} example"
                    f"{'' if len(intent.examples) == 1 else 's'}; the classifier learns "
                    f"little from fewer than {flow.nlu.min_examples}",
                    "add examples worded differently (or lower nlu.min_examples)",
                    severity="warning",
                )
            )
    for a, b, why in _confusable(having):
        out.append(
            lf.source.diagnostic(
                ("intents", b, "examples"),
                "confusable_intents",
                f"intents '{a}' and '{b}' have overlapping examples ({why}); "
                "the classifier will confuse them",
                "make their examples differ, or merge the two intents",
                severity="warning",
            )
        )
    return out


def _profile(examples: tuple[str, ...]) -> tuple[Counter[str], dict[frozenset[str], str]]:
    """Word n-gram counts, and each example's bag of words (for duplicates)."""
    counts: Counter[str] = Counter()
    bags: dict[frozenset[str], str] = {}
    for example in examples:
        grams = [f for f in features(fold(example)) if f.startswith("w:")]
        counts.update(grams)
        bags.setdefault(frozenset(g for g in grams if " " not in g), example)
    return counts, bags


def _confusable(intents: Mapping[str, schema.Intent]) -> list[tuple[str, str, str]]:
    profiles = {n: _profile(i.examples) for n, i in intents.items()}
    norms = {n: math.sqrt(sum(v * v for v in c.values())) for n, (c, _) in profiles.items()}
    names = list(profiles)
    found = []
    for i, a in enumerate(names):
        ca, ba = profiles[a]
        for b in names[i + 1 :]:
            cb, bb = profiles[b]
            same = next((ba[k] for k in ba if k in bb), None)
            if same is not None:
                found.append((a, b, f"'{same}' in both, words in any order"))
                continue
            small, large = (ca, cb) if len(ca) < len(cb) else (cb, ca)
            dot = sum(v * large[k] for k, v in small.items() if k in large)
            cosine = dot / (norms[a] * norms[b]) if norms[a] and norms[b] else 0.0
            if cosine >= CONFUSABLE:
                found.append((a, b, f"word overlap {cosine:.2f}"))
    return found
