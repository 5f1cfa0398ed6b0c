"""From files to an engine's parts: the bot, its actions, the LLM client.

``Engine.from_path`` is built on these; they are separate so the engine itself
only runs conversations.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dialogue.errors import ConfigurationError, FlowErrors
from dialogue.llm.protocol import LLMSettings
from dialogue.runtime.actions import Action, ActionRunner, load_actions_module
from dialogue.runtime.compiled import Bot

if TYPE_CHECKING:
    from dialogue.authoring.loader import LoadedFlow
    from dialogue.nlu.data import Trainer

NLUCache = str | os.PathLike[str] | None | Literal[False]
"""Where trained intent models are kept: a folder, ``None`` (the default:
``.dialogue-cache/`` beside the flow files) or ``False`` (train in memory at every start)."""


def nlu_trainer(path: str | os.PathLike[str], cache: NLUCache = None) -> Trainer | None:
    """The trainer that keeps models of the flows at ``path`` in ``cache`` (see ``NLUCache``)."""
    if cache is False:
        return None
    from dialogue.nlu.cache import CACHE_DIR, CachedTrainer

    if cache is None:
        base = Path(path) if Path(path).is_dir() else Path(path).parent
        cache = base / CACHE_DIR
    return CachedTrainer(cache)


def load_bot(
    path: str | os.PathLike[str], *, main: str | None = None, nlu_cache: NLUCache = None
) -> tuple[Bot, list[LoadedFlow]]:
    """Load and compile the flows at ``path``; in a folder, the one no other flow calls
    is the main one unless ``main`` names it. Intent models trained on examples are
    kept in ``nlu_cache`` (see ``NLUCache``). The authoring and compile stages (and
    PyYAML) load here, on first use, not at ``import dialogue``."""
    from dialogue.authoring.loader import load_flows
    from dialogue.compiler.build import compile_flows

    loaded = load_flows(path)
    if main is None and Path(path).is_dir():
        main = _only_root(loaded, path)
    return compile_flows(loaded, main=main, trainer=nlu_trainer(path, nlu_cache)), loaded


def flow_actions(loaded: Sequence[LoadedFlow]) -> dict[str, Action]:
    """The actions of every ``actions_module`` the flows name (the main flow's win)."""
    actions: dict[str, Action] = {}
    for lf in loaded:
        module = lf.flow.actions_module
        if module is not None:
            base = lf.path.parent if lf.path is not None else Path.cwd()
            actions = {**load_actions_module(module, base=base), **actions}
    return actions


def _only_root(loaded: Sequence[LoadedFlow], path: str | os.PathLike[str]) -> str:
    """The one flow of a folder that no other flow calls (where conversations start)."""
    called = {
        name
        for lf in loaded
        for name in [st.flow for st in lf.flow.states.values()]
        + [i.flow for i in lf.flow.intents.values()]
        if name
    }
    roots = [lf.flow.flow for lf in loaded if lf.flow.flow not in called]
    if len(roots) != 1:
        raise ConfigurationError(
            f"{os.fspath(path)} holds {len(roots)} flows that could start a conversation: "
            + ", ".join(roots),
            hint="name one: Engine.from_path(path, main=...) or dialogue chat PATH --main NAME",
        )
    return roots[0]


def check_actions(bot: Bot, runner: ActionRunner) -> None:
    """Every action a flow calls is registered, or a FlowError says where it is called."""
    problems = []
    for flow in bot.flows.values():
        for name, loc in flow.action_refs:
            if name not in runner:
                known = sorted(runner.names)
                hint = (
                    f"registered actions: {', '.join(known)}"
                    if known
                    else f"register it: Engine(..., actions={{'{name}': callable}}) "
                    "or name an actions_module in the flow"
                )
                problems.append(
                    flow.source.source.diagnostic(
                        loc, "unknown_action", f"unknown action '{name}'", hint
                    )
                )
    if problems:
        raise FlowErrors(problems)


def worst_turn(
    bot: Bot, settings: LLMSettings, overrides: Mapping[str, Any], llm_enabled: bool
) -> float:
    """Seconds the slowest turn can take, for a session's lease: the LLM's timeout for
    every try, two slow business actions, and a margin; at least 30."""
    llm = dataclasses.replace(settings, **overrides)
    asking = llm.timeout * (llm.retries + 1) if llm_enabled else 0.0
    calls = [
        call.timeout
        for flow in bot.flows.values()
        for st in flow.states.values()
        for call in [
            st.call,
            *(t.call for t in st.next),
            *(t.call for ts in st.on.values() for t in ts),
        ]
        if call is not None
    ]
    return max(30.0, asking + 2 * max(calls, default=0.0) + 10.0)
