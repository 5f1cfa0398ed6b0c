"""What the ``dialogue`` subcommands share: loading flows or exiting with diagnostics."""

from __future__ import annotations

import sys

import click

from dialogue.assemble import nlu_trainer
from dialogue.authoring.loader import load_flows
from dialogue.compiler.build import compile_flows
from dialogue.errors import FlowError, FlowErrors
from dialogue.runtime.compiled import Bot, CompiledFlow


def diagnostics(exc: FlowError) -> list[str]:
    """Every ``path:line:col: message`` (and hint) of a flow error."""
    if isinstance(exc, FlowErrors):
        return [str(d) for d in exc.diagnostics]
    return [str(exc.diagnostic)]


def compile_or_exit(path: str, main: str | None = None) -> Bot:
    """The compiled flows at ``path``; on errors, print them to stderr and exit 1."""
    try:
        return compile_flows(load_flows(path), main=main, trainer=nlu_trainer(path))
    except FlowError as exc:
        for line in diagnostics(exc):
            click.echo(line, err=True)
        sys.exit(1)


def choose_flow(bot: Bot, name: str | None) -> CompiledFlow:
    """The flow ``--flow`` names (default: the main one), or a usage error."""
    name = name or bot.main
    if name not in bot.flows:
        raise click.BadParameter(
            f"no flow {name!r}; flows: {', '.join(bot.flows)}", param_hint="--flow"
        )
    return bot.flows[name]
