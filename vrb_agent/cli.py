"""The `vrb-agent` command line: judge, bench, report, probes, demo."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vrb-agent",
    help="Agentic judging of multimodal answers: select frames, zoom, re-examine, then judge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# --- judge (judge-graph issue) -------------------------------------------------------------------

# --- bench / report (benchmark issue) ------------------------------------------------------------

# --- probes / demo (probe-suite issue) -----------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
