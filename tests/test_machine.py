import pytest

from dialogue.runtime.machine import FlowMachine, IllegalMove


def make() -> FlowMachine:
    return FlowMachine(
        "shop",
        ["menu", "tracking", "handoff"],
        [
            ("menu", "tracking"),
            ("tracking", "menu"),
            ("tracking", "tracking"),
            ("menu", "handoff"),
            ("tracking", "handoff"),
        ],
    )


def test_fire_moves_along_declared_moves() -> None:
    m = make()
    assert m.fire("menu", "tracking") == "tracking"
    assert m.fire("tracking", "tracking") == "tracking"
    assert m.fire("tracking", "menu") == "menu"


def test_undeclared_move_is_illegal() -> None:
    m = make()
    with pytest.raises(IllegalMove) as info:
        m.fire("handoff", "menu")
    assert str(info.value) == "flow 'shop' has no move from 'handoff' to 'menu'"
    assert info.value.code == "illegal_move"


def test_unknown_destination_and_source_are_illegal() -> None:
    m = make()
    with pytest.raises(IllegalMove):
        m.fire("menu", "nowhere")
    with pytest.raises(IllegalMove):
        m.fire("nowhere", "menu")


def test_allowed_lists_the_moves_of_a_state() -> None:
    m = make()
    assert m.allowed("menu") == {"tracking", "handoff"}
    assert m.allowed("handoff") == frozenset()
    assert m.states == ("menu", "tracking", "handoff")


def test_no_session_is_registered_with_the_machine() -> None:
    m = make()
    for _ in range(100):
        m.fire("menu", "tracking")
    assert m._machine.models == []
