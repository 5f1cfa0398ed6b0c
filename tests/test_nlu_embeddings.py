"""Word embeddings beside the n-grams (``nlu: {embeddings: wordllama}``, extra
``[nlu-embeddings]``): paraphrases with no word in common come closer, the model
caches with its embedding weights, and a missing extra is a warning, not a crash."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest
from test_nlu import SHOP

from dialogue import compile_flows, parse_flow
from dialogue.compiler.examples import training_set
from dialogue.nlu import embeddings as embeddings_module
from dialogue.nlu.cache import CachedTrainer
from dialogue.nlu.model import IntentModel
from dialogue.runtime.classify import StateClassifier
from dialogue.runtime.rules import prepare
from dialogue.schema import DEFAULT_THRESHOLDS

EMBEDDED = SHOP.replace("start: menu\n", "start: menu\nnlu: {embeddings: wordllama}\n")

# (message, the intent it means): none shares a content word with that intent's examples
PARAPHRASES = [
    ("my shipment never arrived", "track"),
    ("the parcel is late", "track"),
    ("courier status", "track"),
    ("give me the cash back", "refund"),
    ("compensation for the faulty item", "refund"),
    ("I want a reimbursement", "refund"),
]


def classifier(text: str) -> StateClassifier:
    bot = compile_flows([parse_flow(text, path="shop.yaml")])
    c = bot.flows["shop"].states["menu"].classifier
    assert c is not None
    return c


def probability_of(c: StateClassifier, text: str, intent: str) -> float:
    scorer = c.scorer
    return float(scorer.probabilities(prepare(text).folded)[scorer.classes.index(intent)])


def test_paraphrases_without_shared_words_come_closer_to_their_intent() -> None:
    plain, embedded = classifier(SHOP), classifier(EMBEDDED)
    assert isinstance(embedded.scorer, IntentModel) and embedded.scorer.embedder is not None
    assert isinstance(plain.scorer, IntentModel) and plain.scorer.embedder is None
    gains = [
        probability_of(embedded, text, intent) - probability_of(plain, text, intent)
        for text, intent in PARAPHRASES
    ]
    assert sum(gains) / len(gains) > 0.05, gains
    assert sum(g > 0 for g in gains) >= 5, gains


def test_the_default_threshold_follows_the_model_kind_and_a_designer_sets_their_own() -> None:
    assert DEFAULT_THRESHOLDS == {"none": 0.5, "wordllama": 0.55}
    guess = classifier(EMBEDDED).classify(prepare("where is my order"))
    assert guess is not None and guess.threshold == 0.55 and guess.taken
    own = EMBEDDED.replace(
        "nlu: {embeddings: wordllama}", "nlu: {embeddings: wordllama, threshold: 0.3}"
    )
    guess = classifier(own).classify(prepare("where is my order"))
    assert guess is not None and guess.threshold == 0.3


def test_the_cache_key_and_the_saved_model_carry_the_embeddings(tmp_path: Path) -> None:
    plain = training_set(parse_flow(SHOP, path="shop.yaml").flow)
    embedded = training_set(parse_flow(EMBEDDED, path="shop.yaml").flow)
    assert plain is not None and embedded is not None
    assert embedded.embeddings == "wordllama" and plain.key() != embedded.key()

    trainer = CachedTrainer(tmp_path)
    first = trainer(embedded)
    again = CachedTrainer(tmp_path)
    loaded = again(embedded)
    assert again.fits == 0 and loaded.embedder is first.embedder is not None
    for text, _ in PARAPHRASES:
        folded = prepare(text).folded
        assert list(loaded.probabilities(folded)) == pytest.approx(
            list(first.probabilities(folded))
        )


def test_without_the_extra_the_flow_loads_with_a_warning_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embeddings_module.embedder.cache_clear()
    real_import = builtins.__import__

    def no_wordllama(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "wordllama":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wordllama)
    try:
        flow = EMBEDDED.replace("- where is my order", "- where is my order now")  # a new key
        bot = compile_flows([parse_flow(flow, path="shop.yaml")])
    finally:
        embeddings_module.embedder.cache_clear()
    assert bot.flows["shop"].states["menu"].classifier is None
    [warning] = [d for d in bot.warnings if d.code == "nlu_not_installed"]
    assert "wordllama is not installed" in warning.message
    assert warning.hint == "pip install 'dialogue[nlu-embeddings]'"


def test_an_unknown_embeddings_name_is_a_flow_error() -> None:
    from dialogue.errors import FlowError

    with pytest.raises(FlowError) as caught:
        parse_flow(
            SHOP.replace("start: menu\n", "start: menu\nnlu: {embeddings: glove}\n"),
            path="shop.yaml",
        )
    assert "shop.yaml:3:" in str(caught.value) and "wordllama" in str(caught.value)
