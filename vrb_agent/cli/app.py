"""The root `vrb-agent` command group and the console-script entry point: every error leaves as
one `error:` line with the exit code `failure_exit` gives, never a traceback (unless --debug)."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from vrb_agent.cli.exits import EXIT_INTERRUPTED, EXIT_USAGE, failure_exit, one_line


class MappedErrors(TyperGroup):
    """The root command group: whatever a command raises leaves as one `error:` line and the
    exit code `failure_exit` gives (with the traceback too under `--debug`), never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            if ctx.params.get("debug"):
                traceback.print_exception(exc)
            message, code = failure_exit(exc)
            typer.echo(f"error: {one_line(message)}", err=True)
            raise typer.Exit(code) from None


app = typer.Typer(
    name="vrb-agent",
    help="Agentic judging of multimodal answers: select frames, zoom, re-examine, then judge.",
    cls=MappedErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: no `<bool>` / `<list[str]>` type labels
)


@app.callback()
def cli(
    debug: Annotated[bool, typer.Option("--debug", help="On an error, also print the Python traceback.")] = False,
) -> None:
    """Agentic judging of multimodal answers: select frames, zoom, re-examine, then judge."""


def click_error_exit(exc: typer.TyperException) -> int:
    """Show one of click's own errors (typer vendors click; `TyperException` is their public base)
    as one line; a usage error (exit 2: a typo in a flag, a bad value) also names the help to read."""
    message = exc.format_message()
    if exc.exit_code == EXIT_USAGE:
        ctx = getattr(exc, "ctx", None)  # usage errors carry the command they are about
        command = ctx.command_path if ctx else "vrb-agent"
        typer.echo(f"error: {one_line(message)} (see '{command} --help')", err=True)
    elif message:  # no_args_is_help has already shown the help and has no message
        typer.echo(f"error: {one_line(message)}", err=True)
    return exc.exit_code


def main() -> None:
    """Console-script entry point. Usage errors (typos in flags, bad values) become one line, exit 2."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:
        sys.exit(click_error_exit(exc))
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)
