"""Training an intent model with scikit-learn (the optional extra ``[nlu]``).

Word and character n-grams (``dialogue.nlu.features``) weighted by TF-IDF, and a
multinomial logistic regression: its probabilities are what a turn compares with
the abstention threshold (calibrated probabilities reject out-of-scope messages
better than an SVM's raw margins). scikit-learn is imported here only, when a
flow with examples is compiled and no cached model fits.
"""

from __future__ import annotations

import numpy as np

from dialogue.nlu.data import TrainingSet, missing_extra
from dialogue.nlu.features import features
from dialogue.nlu.model import IntentModel

MAX_FEATURES = 20_000
"""The vocabulary's size limit (the most frequent n-grams are kept)."""


def train(data: TrainingSet) -> IntentModel:
    """Fit a model on ``data`` (at least two classes); deterministic for the same data.

    Raises :class:`MissingExtra` when scikit-learn is not installed."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        raise missing_extra() from exc

    texts = [text for _, texts in data.labelled for text in texts]
    labels = [i for i, (_, texts) in enumerate(data.labelled) for _ in texts]
    # float32 and at most MAX_FEATURES n-grams (the most frequent): a 77-intent flow of
    # 10,000 examples trains in under half the time, at the same accuracy (the n-grams
    # left out are seen once, in one example); flows of a few hundred examples have
    # fewer n-grams than that, so nothing is left out of them.
    vectorizer = TfidfVectorizer(
        analyzer=features, sublinear_tf=True, max_features=MAX_FEATURES, dtype=np.float32
    )
    matrix = vectorizer.fit_transform(texts)
    embed = None
    if data.embeddings:
        from scipy.sparse import csr_matrix, hstack

        from dialogue.nlu.embeddings import embedder

        embed = embedder(data.embeddings)
        matrix = hstack([matrix, csr_matrix(embed(texts))], format="csr")
    # One thread: on a busy machine OpenMP/BLAS threads spinning against each other
    # made a fit of a few dozen examples take seconds instead of milliseconds.
    with threadpool_limits(1):
        model = LogisticRegression(C=data.c, max_iter=300, tol=1e-3, class_weight="balanced").fit(
            matrix, labels
        )
    coef, bias = model.coef_, model.intercept_
    if len(data.labelled) == 2:  # binary: one row of coefficients; as two softmax columns
        coef, bias = (coef * [[-0.5], [0.5]]), bias * [-0.5, 0.5]
    n_grams = len(vectorizer.vocabulary_)
    return IntentModel(
        classes=data.classes,
        vocabulary={str(k): int(v) for k, v in vectorizer.vocabulary_.items()},
        idf=vectorizer.idf_,
        weights=coef[:, :n_grams].T.copy(),
        bias=bias.copy(),
        embedder=embed,
        embedding_weights=coef[:, n_grams:].T.copy() if embed is not None else None,
    )
