"""Trained models kept on disk, keyed by a hash of what they were trained on.

:class:`CachedTrainer` is the trainer ``Engine.from_path`` and the CLI hand the
compiler: a restart loads the model (numpy only, no scikit-learn, no fitting);
changed examples or settings give a new key, so a new model is trained and saved.
Files are written to a temporary name and renamed, so a reader never sees half a
model; an unreadable file is trained again and overwritten.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dialogue.nlu.data import TrainingSet, missing_extra

if TYPE_CHECKING:  # numpy is imported only when a flow has examples
    from dialogue.nlu.model import IntentModel

log = logging.getLogger("dialogue")

CACHE_DIR = ".dialogue-cache"
"""The default cache folder, beside the flow files."""


class CachedTrainer:
    """Loads ``<folder>/nlu-<key>.npz`` when present, else trains and saves it.

    ``train`` is the function that fits a model (``dialogue.nlu.train.train`` by
    default); ``fits`` counts how often it was called.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        train: Callable[[TrainingSet], IntentModel] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self._train = train
        self.fits = 0

    def path(self, data: TrainingSet) -> Path:
        return self.folder / f"nlu-{data.key()}.npz"

    def __call__(self, data: TrainingSet) -> IntentModel:
        try:
            from dialogue.nlu.model import IntentModel
        except ImportError as exc:  # numpy comes with the extra, as scikit-learn does
            raise missing_extra() from exc

        path = self.path(data)
        try:
            return IntentModel.load(path)
        except (OSError, ValueError, KeyError):
            pass  # not there yet, or unreadable: train again
        model = self._fit(data)
        self._save(model, path)
        return model

    def _fit(self, data: TrainingSet) -> IntentModel:
        self.fits += 1
        if self._train is not None:
            return self._train(data)
        try:
            from dialogue.nlu.train import train
        except ImportError as exc:
            raise missing_extra() from exc
        return train(data)

    def _save(self, model: IntentModel, path: Path) -> None:
        """Write atomically; a folder that cannot be written is logged and costs a retrain
        at the next start, nothing else."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".nlu-", suffix=".npz")
            os.close(handle)
            try:
                model.save(temp)
                os.replace(temp, path)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
        except OSError as exc:
            log.warning("could not save the trained intent model in %s: %s", self.folder, exc)
