import asyncio
import time
from pathlib import Path

import pytest

from dialogue.errors import ActionError, ActionTimeout, ConfigurationError
from dialogue.runtime.actions import ActionCall, ActionRunner, load_actions_module


def add(a: int, b: int) -> int:
    return a + b


async def aadd(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def slow() -> None:
    time.sleep(0.5)


async def aslow() -> None:
    await asyncio.sleep(5)


def boom() -> None:
    raise KeyError("nope")


def bad_result() -> object:
    return object()


RUNNER = ActionRunner(
    {"add": add, "aadd": aadd, "slow": slow, "aslow": aslow, "boom": boom, "bad": bad_result}
)


def call(name: str, timeout: float = 2.0, **kw: object) -> ActionCall:
    return ActionCall(name, kw, timeout)


def test_sync_face_runs_sync_and_async_actions() -> None:
    assert RUNNER.run(call("add", a=1, b=2)) == 3
    assert RUNNER.run(call("aadd", a=1, b=2)) == 3


def test_async_face_runs_sync_and_async_actions() -> None:
    async def main() -> list[int]:
        return [await RUNNER.arun(call("add", a=2, b=2)), await RUNNER.arun(call("aadd", a=2, b=3))]

    assert asyncio.run(main()) == [4, 5]


def test_timeouts() -> None:
    with pytest.raises(ActionTimeout) as info:
        RUNNER.run(call("slow", timeout=0.05))
    assert str(info.value) == "action 'slow': did not finish within 0.05 s"

    async def main() -> None:
        await RUNNER.arun(call("aslow", timeout=0.05))

    with pytest.raises(ActionTimeout):
        asyncio.run(main())


def test_failures_become_action_errors() -> None:
    with pytest.raises(ActionError) as info:
        RUNNER.run(call("boom"))
    assert str(info.value) == "action 'boom': raised KeyError: 'nope'"
    with pytest.raises(ActionError) as info:
        RUNNER.run(call("bad"))
    assert str(info.value) == "action 'bad': returned object, which is not JSON data"
    with pytest.raises(ActionError):
        RUNNER.run(call("missing"))


def test_non_callable_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        ActionRunner({"x": 3})  # type: ignore[dict-item]


def test_load_actions_module_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "acts.py").write_text(
        "def lookup(order_id):\n    return {'id': order_id}\n\ndef _private():\n    pass\n"
    )
    actions = load_actions_module("acts.py", base=tmp_path)
    assert list(actions) == ["lookup"]
    assert actions["lookup"]("A") == {"id": "A"}


def test_load_actions_module_prefers_actions_table(tmp_path: Path) -> None:
    (tmp_path / "acts2.py").write_text("def f():\n    return 1\n\nACTIONS = {'one': f}\n")
    assert list(load_actions_module("acts2.py", base=tmp_path)) == ["one"]


def test_missing_actions_module() -> None:
    with pytest.raises(ConfigurationError):
        load_actions_module("nowhere.py", base=Path("/nonexistent"))
    with pytest.raises(ConfigurationError):
        load_actions_module("no_such_module_xyz")


def test_inline_sync_actions() -> None:
    runner = ActionRunner({"add": add, "aadd": aadd, "slow": slow, "boom": boom}, threads=False)
    assert runner.run(call("add", a=1, b=2)) == 3
    assert runner.run(call("aadd", a=1, b=2)) == 3  # async ones still get their own loop
    with pytest.raises(ActionTimeout):  # checked after it returns
        runner.run(call("slow", timeout=0.05))
    with pytest.raises(ActionError):
        runner.run(call("boom"))
