"""``open_store``: third-party stores found through the ``dialogue.stores`` entry
points, loaded only when their scheme is named; import failures told apart."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialogue import ConfigurationError, MemoryStore
from dialogue.stores import open_store

FAKESTORE = """
from dialogue.stores.memory import MemoryStore


class FakeStore(MemoryStore):
    def __init__(self, url, **options):
        super().__init__(**options)
        self.url = url


def make(url, **options):
    return FakeStore(url, **options)
"""


def distribution(root: Path, module: str, source: str) -> None:
    """A minimal installed distribution in ``root`` that registers ``fake`` as
    ``{module}:make`` in the entry-point group ``dialogue.stores``."""
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dialogue.stores]\nfake = {module}:make\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``tmp_path`` on ``sys.path`` (put back afterwards), and ``fakestore`` forgotten
    by ``sys.modules`` before and after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates the import caches
    sys.modules.pop("fakestore", None)
    try:
        yield tmp_path
    finally:
        sys.modules.pop("fakestore", None)


def test_a_third_party_store_loads_only_when_its_scheme_is_named(installed: Path) -> None:
    distribution(installed, "fakestore", FAKESTORE)
    assert isinstance(open_store("memory://"), MemoryStore)
    assert "fakestore" not in sys.modules  # registered, but nobody asked for it yet

    store = open_store("fake://x", ttl=60)

    assert "fakestore" in sys.modules
    assert type(store).__name__ == "FakeStore" and type(store).__module__ == "fakestore"
    assert (store.url, store.ttl) == ("fake://x", 60)


def test_a_third_party_store_missing_a_package_says_which(installed: Path) -> None:
    distribution(installed, "fakestore", "import fakestore_driver_xyz\n" + FAKESTORE)
    with pytest.raises(ConfigurationError) as missing:
        open_store("fake://x")
    assert str(missing.value) == (
        "the fake:// store needs a package that is not installed: fakestore_driver_xyz\n"
        "    hint: install fakestore_driver_xyz"
    )


def test_an_unknown_scheme_says_how_to_register_one() -> None:
    with pytest.raises(ConfigurationError) as unknown:
        open_store("mongo://localhost")
    assert str(unknown.value) == (
        "no session store for the scheme 'mongo' in 'mongo://localhost'\n"
        "    hint: use one of memory://, sqlite:///bot.db, redis://localhost:6379/0, or "
        "install the package that registers 'mongo' in the entry-point group 'dialogue.stores'"
    )


def test_a_broken_module_of_dialogue_is_raised_not_reported_as_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dialogue.stores.sqlite", None)  # its import now fails
    with pytest.raises(ImportError) as broken:
        open_store("sqlite:///bot.db")
    assert not isinstance(broken.value, ConfigurationError)
    assert broken.value.name == "dialogue.stores.sqlite"


def test_a_store_importing_a_missing_name_from_dialogue_is_raised(installed: Path) -> None:
    distribution(installed, "fakestore", "from dialogue.stores.memory import Nope\n")
    with pytest.raises(ImportError, match="cannot import name 'Nope'"):
        open_store("fake://x")
