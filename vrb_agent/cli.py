"""The `vrb-agent` command line: judge, bench, report, probes, demo."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(
    name="vrb-agent",
    help="Agentic judging of multimodal answers: select frames, zoom, re-examine, then judge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Typer (>= 0.20) vendors click: reach its exception classes through a public name.
UsageError = typer.BadParameter.__mro__[1]
ClickException = typer.BadParameter.__mro__[2]


@app.callback()
def cli() -> None:
    """Agentic judging of multimodal answers: select frames, zoom, re-examine, then judge."""


# --- judge (judge-graph issue) -------------------------------------------------------------------

EXIT_USAGE, EXIT_CONFIG, EXIT_MEDIA, EXIT_NO_VERDICT = 2, 3, 4, 5
SAMPLE_KEYS = ("question", "response_a", "response_b")


class ModeChoice(StrEnum):
    agentic = "agentic"
    single = "single"


class OrderChoice(StrEnum):
    fixed = "fixed"
    random = "random"
    both = "both"


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr and an exit code: the user-facing way out of every command."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def read_text_arg(value: str, flag: str) -> str:
    """`@path` reads the text from a file (`@@` escapes a literal leading @)."""
    if value.startswith("@@"):
        return value[1:]
    if not value.startswith("@"):
        return value
    path = Path(value[1:]).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{flag} {value}: cannot read {path} ({exc.strerror or exc})", EXIT_USAGE)


def read_sample_file(path: Path) -> dict[str, str]:
    """`--sample FILE.json`: question, response_a, response_b and optionally media (relative to the file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--sample {path}: cannot read it ({exc.strerror or exc})", EXIT_USAGE)
    except json.JSONDecodeError as exc:
        fail(f"--sample {path}: not valid JSON ({exc.msg} at line {exc.lineno})", EXIT_USAGE)
    if not isinstance(data, dict):
        fail(f"--sample {path}: expected a JSON object with keys {', '.join(SAMPLE_KEYS)} and media", EXIT_USAGE)
    sample = {k: str(v) for k, v in data.items() if k in (*SAMPLE_KEYS, "media") and v is not None}
    if "media" in sample:
        sample["media"] = str((path.parent / sample["media"]).resolve())
    return sample


def parse_backend_options(pairs: list[str]) -> dict[str, Any]:
    """`--backend-option KEY=VALUE` pairs; values are JSON when they parse (numbers, booleans), else text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--backend-option {pair!r}: expected KEY=VALUE", EXIT_USAGE)
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def render_judgment(judgment: Any) -> None:
    """Human output: the verdict, its rationale, then a timeline of the judge's tool calls."""
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415

    console = Console(highlight=False)
    if judgment.status == "ok" and judgment.verdict is not None:
        confidence = judgment.verdict.confidence
        shown = f" (confidence {confidence:.2f})" if confidence is not None else ""
        console.print(f"[bold]Verdict:[/bold] Response {judgment.verdict.preferred} is better{shown}")
        console.print(f"[bold]Rationale:[/bold] {escape(judgment.verdict.rationale.strip())}")
    else:
        console.print(f"[bold]No verdict:[/bold] status {judgment.status} — {escape(judgment.error or '')}")
    if len(judgment.votes) > 1:
        agreement = "" if judgment.order_agreement is None else f", orders agree: {judgment.order_agreement}"
        console.print(f"Votes: {', '.join(v or '-' for v in judgment.votes)}{agreement}")
    if judgment.evidence:
        console.print("[bold]Tool calls:[/bold]")
    for record in judgment.evidence:
        args = ", ".join(f"{k}={json.dumps(v)}" for k, v in record.arguments.items())
        mark = "" if record.ok else "[red]✗[/red] "
        sample = f"s{record.sample} " if judgment.k > 1 or judgment.order == "both" else ""
        console.print(f"  {sample}turn {record.turn}  {mark}{record.name}({escape(args)}) → {escape(record.message)}")
    usage, times = judgment.usage, judgment.timings
    console.print(
        f"[dim]{judgment.backend}/{judgment.model}, {judgment.mode}: {usage.calls} model call(s), "
        f"{usage.input_tokens} in / {usage.output_tokens} out tokens, {judgment.images_sent} images sent; "
        f"{times.get('total_s', 0):.2f}s total ({times.get('model_s', 0):.2f}s model, "
        f"{times.get('tools_s', 0):.2f}s tools)[/dim]"
    )


def pair_inputs(sample: Path | None, flags: dict[str, str | None]) -> dict[str, str]:
    """MEDIA and the three texts from flags, falling back to --sample; `@file` texts are read."""
    values = {**(read_sample_file(sample) if sample else {}), **{k: v for k, v in flags.items() if v is not None}}
    missing = [("MEDIA" if key == "media" else f"--{key.replace('_', '-')}") for key in flags if key not in values]
    if missing:
        fail(f"missing {', '.join(missing)} (give them as arguments or in --sample FILE.json)", EXIT_USAGE)
    texts = {key: read_text_arg(values[key], f"--{key.replace('_', '-')}") for key in SAMPLE_KEYS}
    return {"media": values["media"], **texts}


def checked_backend_name(backend: str | None) -> str:
    from vrb_agent.judges.registry import backend_names  # noqa: PLC0415

    if not backend:
        fail(f"no --backend given and VRB_BACKEND is not set; choose one of: {', '.join(backend_names())}", EXIT_USAGE)
    if backend not in backend_names():
        fail(f"unknown --backend {backend!r}; choose one of: {', '.join(backend_names())}", EXIT_USAGE)
    return backend


@app.command("judge")
def judge_command(  # noqa: PLR0917 - one parameter per flag is how typer declares them
    media: Annotated[str | None, typer.Argument(help="Video or image file (or give it in --sample).")] = None,
    question: Annotated[str | None, typer.Option("--question", "-q", help="The question (@file reads a file).")] = None,
    response_a: Annotated[str | None, typer.Option(help="Response A (@file reads a file).")] = None,
    response_b: Annotated[str | None, typer.Option(help="Response B (@file reads a file).")] = None,
    sample: Annotated[
        Path | None, typer.Option(help="JSON file with question, response_a, response_b and optionally media.")
    ] = None,
    backend: Annotated[
        str | None, typer.Option("--backend", "-b", envvar="VRB_BACKEND", help="Model backend (default: $VRB_BACKEND).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model id (default: the backend's).")] = None,
    base_url: Annotated[str | None, typer.Option(help="API base URL (OpenAI-compatible servers).")] = None,
    backend_option: Annotated[
        list[str] | None, typer.Option("--backend-option", "-O", help="Backend option KEY=VALUE (repeatable).")
    ] = None,
    mode: Annotated[ModeChoice, typer.Option(help="agentic (tools) or single (one pass).")] = ModeChoice.agentic,
    k: Annotated[int, typer.Option("--k", min=1, help="Samples for majority vote (orders alternate).")] = 1,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0, help="Sampling temperature.")] = 0.0,
    order: Annotated[OrderChoice, typer.Option(help="Presentation order of A/B.")] = OrderChoice.fixed,
    seed: Annotated[int, typer.Option(help="Seed for order=random and the model.")] = 0,
    max_turns: Annotated[int, typer.Option(min=1, help="Model turns before the judge must conclude.")] = 6,
    frames: Annotated[int, typer.Option(min=1, help="Overview frames (uniform).")] = 16,
    timeout: Annotated[float, typer.Option(min=1.0, help="Per-judgment time limit, seconds.")] = 600.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the Judgment as JSON.")] = False,
    trace_dir: Annotated[Path | None, typer.Option(help="Write the images the judge saw + trace.json.")] = None,
) -> None:
    """Judge which of two responses is better for a video/image and a question.

    Exit codes: 0 verdict, 2 usage error, 3 configuration error, 4 media error, 5 no verdict.
    """
    from vrb_agent.agents.api import judge, resolve_config  # noqa: PLC0415
    from vrb_agent.agents.trace import write_trace  # noqa: PLC0415
    from vrb_agent.errors import VrbError  # noqa: PLC0415
    from vrb_agent.judges.base import AuthError, ConfigError  # noqa: PLC0415
    from vrb_agent.judges.registry import get_backend  # noqa: PLC0415
    from vrb_agent.tools.evidence import EvidenceStore  # noqa: PLC0415
    from vrb_agent.tools.media import MediaError  # noqa: PLC0415

    inputs = pair_inputs(
        sample, {"media": media, "question": question, "response_a": response_a, "response_b": response_b}
    )
    name = checked_backend_name(backend)
    options = parse_backend_options(backend_option or [])
    options.update({k: v for k, v in {"model": model, "base_url": base_url}.items() if v is not None})
    knobs = {"k": k, "temperature": temperature, "order": order.value, "seed": seed, "max_turns": max_turns}
    try:
        config = resolve_config(None, mode.value, {**knobs, "frames": frames, "timeout_s": timeout})
    except VrbError as exc:
        fail(str(exc), EXIT_USAGE)
    store = EvidenceStore(config.jpeg_quality, config.max_side)
    try:
        model_backend = get_backend(name, **options)  # configuration errors surface before any decoding
        result = judge(**inputs, backend=model_backend, config=config, store=store)
    except (ConfigError, AuthError) as exc:
        fail(str(exc), EXIT_CONFIG)
    except MediaError as exc:
        fail(str(exc), EXIT_MEDIA)
    except VrbError as exc:
        fail(str(exc), 1)
    if trace_dir is not None:
        try:
            write_trace(result, store, trace_dir, {**inputs, "config": config.model_dump()})
        except OSError as exc:
            fail(f"--trace-dir {trace_dir}: cannot write the trace ({exc.strerror or exc})", 1)
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render_judgment(result)
    if result.status != "ok":
        raise typer.Exit(EXIT_NO_VERDICT)


# --- bench / report (benchmark issue) ------------------------------------------------------------

# --- probes / demo (probe-suite issue) -----------------------------------------------------------


def main() -> None:
    """Console-script entry point. Usage errors (typos in flags, bad values) become one line, exit 2."""
    try:
        code = app(standalone_mode=False)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "vrb-agent"
        typer.echo(f"error: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(exc.exit_code)
    except ClickException as exc:
        if exc.format_message():  # no_args_is_help has already shown the help and has no message
            typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
