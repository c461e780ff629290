"""`vrb-agent judge`: one pair of responses for one video or image, verdict printed or as JSON."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vrb_agent.cli.app import app
from vrb_agent.cli.exits import EXIT_NO_VERDICT
from vrb_agent.cli.inputs import (
    BackendFlag,
    BackendOptionFlag,
    BaseUrlFlag,
    MaxImagesFlag,
    MaxOutputTokensFlag,
    MaxSideFlag,
    ModeChoice,
    ModelFlag,
    OrderChoice,
    ProtocolChoice,
    ProtocolFlag,
    TopPFlag,
    budget_knobs,
    checked_backend_name,
    pair_inputs,
    parse_backend_options,
    sampling_option,
)
from vrb_agent.errors import InputError, VrbError

if TYPE_CHECKING:
    from vrb_agent.agents.types import JudgeConfig, Judgment, Mode


def render_judgment(judgment: Judgment) -> None:
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
    for note in judgment.notes:
        console.print(f"[yellow]Note:[/yellow] {escape(note)}")
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


@contextlib.contextmanager
def judge_progress() -> Iterator[Callable[[dict[str, Any]], None]]:
    """A spinner on stderr that follows the judge's tool calls; silent when stderr is not a terminal."""
    from rich.console import Console  # noqa: PLC0415

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda _event: None
        return
    with console.status("judging: looking at the overview…") as status:

        def show(event: dict[str, Any]) -> None:
            if event.get("event") == "tool_call":
                status.update(f"judging: turn {event['turn']}, {event['name']}({json.dumps(event['arguments'])})")

        yield show


def judge_config(
    mode: Mode, temperature: float | None, knobs: dict[str, Any], top_p: float | None = None
) -> JudgeConfig:
    """The JudgeConfig of the flags given (unset sampling flags: the protocol's); a value it
    rejects is a usage error."""
    from vrb_agent.agents.api import resolve_config  # noqa: PLC0415

    given = {"temperature": temperature, "top_p": top_p}
    knobs = {**knobs, **{key: value for key, value in given.items() if value is not None}}
    try:
        return resolve_config(None, mode, knobs)
    except VrbError as exc:
        raise InputError(str(exc)) from None


@app.command("judge")
def judge_command(  # noqa: PLR0917 - one parameter per flag is how typer declares them
    media: Annotated[str | None, typer.Argument(help="Video or image file (or give it in --sample).")] = None,
    question: Annotated[str | None, typer.Option("--question", "-q", help="The question (@file reads a file).")] = None,
    response_a: Annotated[str | None, typer.Option(help="Response A (@file reads a file).")] = None,
    response_b: Annotated[str | None, typer.Option(help="Response B (@file reads a file).")] = None,
    sample: Annotated[
        Path | None, typer.Option(help="JSON file with question, response_a, response_b and optionally media.")
    ] = None,
    backend: BackendFlag = None,
    model: ModelFlag = None,
    base_url: BaseUrlFlag = None,
    backend_option: BackendOptionFlag = None,
    mode: Annotated[ModeChoice, typer.Option(help="agentic (tools) or single (one pass).")] = ModeChoice.agentic,
    k: Annotated[int, typer.Option("--k", min=1, help="Samples for majority vote (orders alternate).")] = 1,
    temperature: Annotated[
        float | None,
        typer.Option(min=0.0, max=2.0, help="Sampling temperature (default 0; qwen: the checkpoint's own)."),
    ] = None,
    top_p: TopPFlag = None,
    order: Annotated[OrderChoice, typer.Option(help="Presentation order of A/B.")] = OrderChoice.fixed,
    protocol: ProtocolFlag = ProtocolChoice.vrb_agent,
    seed: Annotated[int, typer.Option(help="Seed for order=random and the model.")] = 0,
    max_turns: Annotated[int, typer.Option(min=1, help="Model turns before the judge must conclude.")] = 6,
    frames: Annotated[int, typer.Option(min=1, help="Overview frames (uniform).")] = 16,
    max_output_tokens: MaxOutputTokensFlag = None,
    max_side: MaxSideFlag = None,
    max_images: MaxImagesFlag = None,
    timeout: Annotated[float, typer.Option(min=1.0, help="Per-judgment time limit, seconds.")] = 600.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the Judgment as JSON.")] = False,
    trace_dir: Annotated[Path | None, typer.Option(help="Write the images the judge saw + trace.json.")] = None,
) -> None:
    """Judge which of two responses is better for a video/image and a question.

    Exit codes: 0 verdict, 2 usage error, 3 configuration error, 4 media error, 5 no verdict.
    """
    from vrb_agent.judges.registry import get_backend  # noqa: PLC0415

    inputs = pair_inputs(
        sample, {"media": media, "question": question, "response_a": response_a, "response_b": response_b}
    )
    name = checked_backend_name(backend)
    options = parse_backend_options(backend_option or [])
    options.update({k: v for k, v in {"model": model, "base_url": base_url}.items() if v is not None})
    sampling_option(name, temperature, options)
    knobs = {"k": k, "order": order.value, "seed": seed, "max_turns": max_turns, "frames": frames, "timeout_s": timeout}
    knobs |= {"protocol": protocol.value, **budget_knobs(max_output_tokens, max_side, max_images)}
    config = judge_config(mode.value, temperature, knobs, top_p)
    model_backend = get_backend(name, **options)  # configuration errors surface before any decoding
    result = run_judgment(inputs, model_backend, config, trace_dir)
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render_judgment(result)
    if result.status != "ok":
        raise typer.Exit(EXIT_NO_VERDICT)


def run_judgment(inputs: dict[str, str], backend: Any, config: JudgeConfig, trace_dir: Path | None) -> Judgment:
    """Judge with a progress spinner; with `trace_dir`, write what the judge saw there."""
    from vrb_agent.agents.api import judge  # noqa: PLC0415
    from vrb_agent.agents.trace import write_trace  # noqa: PLC0415
    from vrb_agent.tools.evidence import EvidenceStore  # noqa: PLC0415

    store = EvidenceStore(config.jpeg_quality, config.max_side)
    with judge_progress() as on_event:
        result = judge(
            inputs["media"],
            inputs["question"],
            inputs["response_a"],
            inputs["response_b"],
            backend=backend,
            config=config,
            store=store,
            on_event=on_event,
        )
    if trace_dir is not None:
        try:
            write_trace(result, store, trace_dir, {**inputs, "config": config.model_dump()})
        except OSError as exc:
            raise VrbError(f"--trace-dir {trace_dir}: cannot write the trace ({exc.strerror or exc})") from None
    return result
