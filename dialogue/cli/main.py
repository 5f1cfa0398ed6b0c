"""The ``dialogue`` command: a thin layer over the Python API.

dialogue validate PATH...     check flow files; exit 1 on errors
dialogue chat PATH            talk to a flow in the terminal
dialogue schema               the JSON Schema of the flow format
dialogue graph PATH           a Mermaid (or DOT) state diagram
dialogue serve PATH           the HTTP API (extra [server])
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dialogue.assemble import check_actions, flow_actions, nlu_trainer
from dialogue.authoring.loader import load_flows
from dialogue.cli.common import choose_flow, compile_or_exit, diagnostics
from dialogue.compiler.build import compile_flows
from dialogue.errors import DialogueError, FlowError
from dialogue.runtime.actions import ActionRunner

if TYPE_CHECKING:
    from dialogue.engine import Engine
    from dialogue.trace import Option, TurnResult


@click.group()
@click.version_option(package_name="dialogue")
def main() -> None:
    """Rule-plus-LLM dialogue flows: validate, chat, draw."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(paths: tuple[str, ...], strict: bool) -> None:
    """Check flow files (and the flows they import)."""
    failed = False
    for path in paths:
        try:
            loaded = load_flows(path)
            bot = compile_flows(loaded, trainer=nlu_trainer(path))
            actions = flow_actions(loaded)
            if any(lf.flow.actions_module for lf in loaded):  # else the embedding code brings them
                check_actions(bot, ActionRunner(actions))
        except FlowError as exc:
            for line in diagnostics(exc):
                click.echo(line, err=True)
            failed = True
            continue
        except DialogueError as exc:  # an actions_module that does not import
            click.echo(f"{path}: {exc}", err=True)
            failed = True
            continue
        for warning in bot.warnings:
            click.echo(str(warning), err=True)
        flows = ", ".join(bot.flows)
        count = len(bot.warnings)
        summary = f"{path} ({flows}; {count} warning{'s' if count != 1 else ''})"
        if strict and count:
            failed = True
            click.echo(f"failed (--strict): {summary}")
        else:
            click.echo(f"ok: {summary}")
    sys.exit(1 if failed else 0)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the flow format (for editors)."""
    from dialogue.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


@main.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid")
@click.option(
    "--flow", "flow_name", default=None, help="Which flow to draw (default: the main one)."
)
@click.option(
    "--coverage",
    "coverage_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Mark what this flow coverage JSON file left uncovered.",
)
def graph(path: str, fmt: str, flow_name: str | None, coverage_file: str | None) -> None:
    """Draw a flow as a state diagram."""
    from dialogue.compiler import graph as drawing
    from dialogue.testing.coverage import read_coverage

    bot = compile_or_exit(path)
    flow = choose_flow(bot, flow_name)
    try:
        report = None if coverage_file is None else read_coverage(bot, coverage_file)
    except DialogueError as exc:
        raise click.BadParameter(str(exc), param_hint="--coverage") from exc
    draw = drawing.mermaid if fmt == "mermaid" else drawing.dot
    click.echo(draw(flow, coverage=report), nl=False)


@main.command()
@click.argument("path", type=click.Path())
@click.option("--trace", is_flag=True, help="Show what fired on every turn.")
@click.option("--session", "session_id", default=None, help="Session id (default: a new one).")
@click.option("--main", "main_flow", default=None, help="The flow to start in.")
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Where sessions live, e.g. sqlite:///chat.db (default: memory://). With a "
    "persistent store and --session, a restart continues the conversation.",
)
@click.option(
    "--language",
    default=None,
    help="The language to talk in, one the flow speaks (default: its first, or the one "
    "detected when the flow allows it).",
)
def chat(
    path: str,
    trace: bool,
    session_id: str | None,
    main_flow: str | None,
    store_url: str | None,
    language: str | None,
) -> None:
    """Talk to a flow in the terminal. /reset starts over, /lang CODE switches the
    language (as a host would), /resume takes the conversation back after a handoff,
    /quit leaves; a number picks a quick reply; /event NAME {"slot": "value"} sends an
    event from the host."""
    from dialogue.engine import Engine

    try:
        engine = Engine.from_path(Path(path), main=main_flow, store=store_url)
    except FlowError as exc:
        for line in diagnostics(exc):
            click.echo(line, err=True)
        sys.exit(1)
    except DialogueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sid = session_id or uuid.uuid4().hex[:8]
    click.echo(
        f"Chatting with flow '{engine.bot.main}'. Type /quit to leave, /reset to start over."
    )
    _notes(engine)
    with engine:
        try:
            greeting = engine.start(sid, language=language)
        except DialogueError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        _show(greeting, trace)
        _talk(engine, sid, trace, language, greeting.options)


def _notes(engine: Engine) -> None:
    """What the designer should know before chatting: offline, fewer matchers."""
    from dialogue.llm.service import OFFLINE_NOTICE

    if engine.offline:
        click.secho(f"note: {OFFLINE_NOTICE}", fg="yellow")
    for warning in engine.bot.warnings:
        if warning.code == "nlu_not_installed":  # the bot understands less than it could
            click.secho(f"note: {warning.message} ({warning.hint})", fg="yellow")
            break


def _talk(
    engine: Engine, sid: str, trace: bool, language: str | None, options: Sequence[Option]
) -> None:
    """The terminal chat's loop, after the greeting (which offered ``options``)."""
    from dialogue.cli.chat_input import send_line

    while True:
        try:
            text = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo()
            break
        command = text.strip()
        if command in ("/quit", "/exit"):
            break
        if command in ("/reset", "/resume"):
            result = _command(engine, sid, command, trace, language)
            options = options if result is None else result.options
            continue
        if command.startswith("/lang"):
            language = _switch(engine, sid, command.removeprefix("/lang").strip()) or language
            continue
        answer = send_line(engine, sid, text, options)
        if answer is not None:  # None: nothing was sent
            options = answer.options
            _show(answer, trace)


def _command(
    engine: Engine, sid: str, command: str, trace: bool, language: str | None
) -> TurnResult | None:
    """``/reset`` (the greeting's result) or ``/resume`` (None: no turn ran)."""
    if command == "/reset":
        engine.reset(sid)
        result = engine.start(sid, language=language)
        _show(result, trace)
        return result
    engine.resume(sid)
    click.echo("(the bot has the conversation again)")
    return None


def _switch(engine: Engine, sid: str, code: str) -> str | None:
    """``/lang zh``: the host sets the session's language (``/lang``: show them)."""
    if not code:
        click.echo(f"languages: {', '.join(engine.languages)}")
        return None
    try:
        engine.start(sid, language=code)
    except DialogueError as exc:
        click.echo(f"error: {exc}", err=True)
        return None
    click.echo(f"(language: {code})")
    return code


def _show(result: object, trace: bool) -> None:
    from dialogue.trace import TurnResult

    assert isinstance(result, TurnResult)
    from dialogue.cli.chat_input import option_lines

    for reply in result.replies:
        click.echo(f"bot> {reply}")
    for line in option_lines(result.options):
        click.echo(line)
    if trace:
        click.secho(f"     {result.trace.summary()}", fg="cyan")
        steps = result.trace.steps
        if steps:
            click.secho(f"     steps: {' > '.join(steps)}", fg="cyan")
    if result.handed_off:
        handoff = result.handoff
        why = f": {handoff.reason}" if handoff and handoff.reason else ""
        click.echo(f"(handed to a person{why}; the bot keeps quiet until /resume)")
    elif result.ended and result.trace.rule != "start":
        click.echo("(conversation ended; type to start again, /quit to leave)")


def _register() -> None:
    from dialogue.cli.evaluate import eval_command
    from dialogue.cli.run_tests import test
    from dialogue.cli.serve import serve

    main.add_command(eval_command)
    main.add_command(serve)
    main.add_command(test)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
