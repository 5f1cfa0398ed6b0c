import subprocess
import sys

import dialogue


def test_all_is_sorted_and_complete() -> None:
    assert dialogue.__all__ == sorted(dialogue.__all__)
    public = {name for name in vars(dialogue) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(dialogue, name)).__name__ == "module"}
    assert set(dialogue.__all__) == public - modules


def test_every_error_derives_from_dialogue_error() -> None:
    for name in dialogue.__all__:
        obj = getattr(dialogue, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, dialogue.DialogueError), name


def test_import_has_no_side_effects_and_no_openai() -> None:
    code = (
        "import logging, os, sys, warnings\n"
        "env = dict(os.environ); filters = list(warnings.filters)\n"
        "import dialogue\n"
        "assert 'openai' not in sys.modules, 'openai imported'\n"
        "assert dict(os.environ) == env\n"
        "assert warnings.filters == filters\n"
        "assert logging.getLogger('transitions').level == logging.NOTSET\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
