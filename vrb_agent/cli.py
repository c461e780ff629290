"""The `vrb-agent` command line: judge, bench, report, probes, demo."""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from vrb_agent.cli_data import DimMapFlag, QuestionTemplateFlag, data_app

# Typer (>= 0.20) vendors click: reach its exception classes through a public name.
UsageError = typer.BadParameter.__mro__[1]
ClickException = typer.BadParameter.__mro__[2]

EXIT_FAILURE, EXIT_USAGE, EXIT_CONFIG, EXIT_MEDIA, EXIT_NO_VERDICT, EXIT_INTERRUPTED = 1, 2, 3, 4, 5, 130
EXIT_RUN_LOCKED, EXIT_DISK_FULL = 6, 7  # bench only


def failure_exit(exc: BaseException) -> tuple[str, int]:
    """The one mapping, for every command, from an exception that reached the top to its message
    and exit code (README's table). Anything not ours is a bug: one line and a --debug hint."""
    from vrb_agent.benchmark.datasets import DatasetError  # noqa: PLC0415
    from vrb_agent.benchmark.diskspace import DiskFullError  # noqa: PLC0415
    from vrb_agent.benchmark.probes import ProbeError  # noqa: PLC0415
    from vrb_agent.benchmark.runlock import RunLockedError  # noqa: PLC0415
    from vrb_agent.benchmark.runner import OutDirError  # noqa: PLC0415
    from vrb_agent.errors import VrbError  # noqa: PLC0415
    from vrb_agent.judges.base import AuthError, ConfigError  # noqa: PLC0415
    from vrb_agent.tools.media import MediaError  # noqa: PLC0415

    codes: list[tuple[type[BaseException], int]] = [
        (ConfigError | AuthError, EXIT_CONFIG),  # type: ignore[list-item]
        (MediaError, EXIT_MEDIA),
        (DatasetError | ProbeError | OutDirError, EXIT_USAGE),  # type: ignore[list-item]
        (RunLockedError, EXIT_RUN_LOCKED),
        (DiskFullError, EXIT_DISK_FULL),
        (VrbError, EXIT_FAILURE),
    ]
    for kind, code in codes:
        if isinstance(exc, kind):
            return str(exc), code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, MemoryError):
        return "out of memory; use smaller inputs or fewer --concurrency", EXIT_FAILURE
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}", EXIT_FAILURE
    return f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)", EXIT_FAILURE


def one_line(message: str) -> str:
    """`message` as one printable line: a newline or a lone surrogate in a user's file name or in
    an exception's text is shown escaped (`\\n`, `\\ud800`), never breaking the line."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in message)


class MappedErrors(TyperGroup):
    """The root command group: whatever a command raises leaves as one `error:` line and the
    exit code `failure_exit` gives (with the traceback too under `--debug`), never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (ClickException, typer.Exit, typer.Abort):
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


# --- judge (judge-graph issue) -------------------------------------------------------------------

# Flags that `judge` and `bench` share, declared once.
BackendFlag = Annotated[
    str | None, typer.Option("--backend", "-b", envvar="VRB_BACKEND", help="Model backend (default: $VRB_BACKEND).")
]
ModelFlag = Annotated[str | None, typer.Option("--model", "-m", help="Model id (default: the backend's).")]
BaseUrlFlag = Annotated[str | None, typer.Option(help="API base URL (OpenAI-compatible servers).")]
BackendOptionFlag = Annotated[
    list[str] | None,
    typer.Option("--backend-option", "-O", metavar="KEY=VALUE", help="Backend option KEY=VALUE (repeatable)."),
]
MaxOutputTokensFlag = Annotated[
    int | None, typer.Option(min=16, help="Output-token budget of each model call (thinking models need thousands).")
]
MaxSideFlag = Annotated[int | None, typer.Option(min=64, help="Long side of the images sent, px (default 768).")]
MaxImagesFlag = Annotated[
    int | None, typer.Option(min=1, help="Images kept in the judge's context (visual memory window, default 48).")
]
SAMPLE_KEYS = ("question", "response_a", "response_b")


def budget_knobs(max_output_tokens: int | None, max_side: int | None, max_images: int | None) -> dict[str, int]:
    """The token/image budget flags that were given, as JudgeConfig fields."""
    given = {"max_output_tokens": max_output_tokens, "max_side": max_side, "max_images": max_images}
    return {k: v for k, v in given.items() if v is not None}


def sampling_option(backend: str, temperature: float | None, options: dict[str, Any]) -> None:
    """A local Qwen judge samples as its checkpoint's generation_config says unless --temperature is given."""
    if backend == "qwen" and temperature is not None:
        options.setdefault("sampling", "request")


class ModeChoice(StrEnum):
    agentic = "agentic"
    single = "single"


class OrderChoice(StrEnum):
    fixed = "fixed"
    random = "random"
    both = "both"


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr and an exit code: the user-facing way out of every command."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


TEXT_FILE_LIMIT_MB = 4  # the largest @file or --sample file read (README); /dev/zero stops here


def checked_text(text: str, where: str) -> str:
    """`text` if it encodes as UTF-8; lone surrogates (undecodable bytes in argv, `\\ud800` in
    JSON) would fail only later, inside a provider's request."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        fail(f"{where}: not valid Unicode text (character {exc.start}); give UTF-8 text", EXIT_USAGE)
    return text


def read_user_text(path: Path, where: str) -> str:
    """A text file the user named: UTF-8 (a leading BOM is dropped), at most TEXT_FILE_LIMIT_MB;
    anything else is a usage error naming the file and what to do."""
    limit = TEXT_FILE_LIMIT_MB * 1024 * 1024
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL or a lone surrogate in the path
        fail(f"{where}: cannot read {path!s:.200} ({getattr(exc, 'strerror', None) or exc})", EXIT_USAGE)
    if len(data) > limit:
        fail(f"{where}: {path} is over {TEXT_FILE_LIMIT_MB} MB, the limit for a text input; shorten it", EXIT_USAGE)
    try:
        return checked_text(data.decode("utf-8-sig"), where)
    except UnicodeDecodeError as exc:
        fail(
            f"{where}: {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"convert it, e.g. iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8{path.suffix}",
            EXIT_USAGE,
        )


def read_text_arg(value: str, flag: str) -> str:
    """`@path` reads the text from a file (`@@` escapes a literal leading @)."""
    if value.startswith("@@"):
        return checked_text(value[1:], flag)
    if not value.startswith("@"):
        return checked_text(value, flag)
    return read_user_text(Path(value[1:]).expanduser(), f"{flag} {value}")


def read_sample_file(path: Path) -> dict[str, str]:
    """`--sample FILE.json`: question, response_a, response_b and optionally media (relative to the file)."""
    where = f"--sample {path}"
    try:
        data = json.loads(read_user_text(path, where))
    except json.JSONDecodeError as exc:
        fail(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})", EXIT_USAGE)
    except RecursionError:
        fail(f"{where}: JSON nested too deeply; expected a flat object", EXIT_USAGE)
    if not isinstance(data, dict):
        fail(f"{where}: expected a JSON object with keys {', '.join(SAMPLE_KEYS)} and media", EXIT_USAGE)
    sample: dict[str, str] = {}
    for key in (*SAMPLE_KEYS, "media"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            fail(f"{where}: {key} must be a string, got {type(value).__name__}", EXIT_USAGE)
        sample[key] = checked_text(value, f"{where}: {key}")
    if "media" in sample:
        if "\x00" in sample["media"]:
            fail(f"{where}: media holds a NUL character; give a file path", EXIT_USAGE)
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
    order: Annotated[OrderChoice, typer.Option(help="Presentation order of A/B.")] = OrderChoice.fixed,
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
    from vrb_agent.agents.api import judge, resolve_config  # noqa: PLC0415
    from vrb_agent.agents.trace import write_trace  # noqa: PLC0415
    from vrb_agent.errors import VrbError  # noqa: PLC0415
    from vrb_agent.judges.registry import get_backend  # noqa: PLC0415
    from vrb_agent.tools.evidence import EvidenceStore  # noqa: PLC0415

    inputs = pair_inputs(
        sample, {"media": media, "question": question, "response_a": response_a, "response_b": response_b}
    )
    name = checked_backend_name(backend)
    options = parse_backend_options(backend_option or [])
    options.update({k: v for k, v in {"model": model, "base_url": base_url}.items() if v is not None})
    sampling_option(name, temperature, options)
    knobs = {"k": k, "order": order.value, "seed": seed, "max_turns": max_turns, "frames": frames, "timeout_s": timeout}
    knobs |= budget_knobs(max_output_tokens, max_side, max_images)
    if temperature is not None:
        knobs["temperature"] = temperature
    try:
        config = resolve_config(None, mode.value, knobs)
    except VrbError as exc:
        fail(str(exc), EXIT_USAGE)
    store = EvidenceStore(config.jpeg_quality, config.max_side)
    model_backend = get_backend(name, **options)  # configuration errors surface before any decoding
    with judge_progress() as on_event:
        result = judge(**inputs, backend=model_backend, config=config, store=store, on_event=on_event)
    if trace_dir is not None:
        try:
            write_trace(result, store, trace_dir, {**inputs, "config": config.model_dump()})
        except OSError as exc:
            fail(f"--trace-dir {trace_dir}: cannot write the trace ({exc.strerror or exc})", EXIT_FAILURE)
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render_judgment(result)
    if result.status != "ok":
        raise typer.Exit(EXIT_NO_VERDICT)


# --- bench / report (benchmark issue) ------------------------------------------------------------

POLICIES = ("wrong", "drop", "half")
BENCH_FLAGS = {
    "modes": "--modes",
    "frames": "--frames",
    "k": "--k",
    "max_turns": "--max-turns",
    "order": "--order",
    "temperature": "--temperature",
    "max_output_tokens": "--max-output-tokens",
    "max_side": "--max-side",
    "max_images": "--max-images",
    "concurrency": "--concurrency",
    "limit": "--limit",
    "dataset": "--dataset",
    "shard": "--shard",
}


def int_list(flag: str, text: str) -> list[int]:
    """`4,16,64` -> [4, 16, 64]; anything else is a usage error naming the flag."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        fail(f"{flag} {text!r} is not a comma list of integers (e.g. {flag} 4,16,64)", EXIT_USAGE)
    return values


def checked_policy(policy: str) -> str:
    if policy not in POLICIES:
        fail(f"--invalid-policy {policy!r}: choose one of {', '.join(POLICIES)}", EXIT_USAGE)
    return policy


def print_report(run_dirs: list[str], out: str | None, policy: str, n_boot: int = 2000, seed: int = 0) -> None:
    """Write the report of the runs and print the headline table and where the report is."""
    from vrb_agent.benchmark.report import headline, write_report  # noqa: PLC0415

    paths = write_report(run_dirs, out, invalid_policy=policy, n_boot=n_boot, seed=seed)
    typer.echo(headline(json.loads(paths["summary"].read_text(encoding="utf-8"))))
    typer.echo(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['summary'].name})")


@app.command("bench")
def bench_command(  # noqa: PLR0917 - one parameter per flag is how typer declares them
    out: Annotated[str, typer.Option("--out", help="RUN_DIR: results.jsonl, run.json, evidence/, report.")],
    data: Annotated[str, typer.Option("--data", help="Dataset file or directory.")],
    dataset: Annotated[str, typer.Option(help="generic | videorewardbench | vlrewardbench | probes.")] = "generic",
    backend: BackendFlag = None,
    model: ModelFlag = None,
    base_url: BaseUrlFlag = None,
    backend_option: BackendOptionFlag = None,
    modes: Annotated[str, typer.Option(help="Comma list of single, agentic.")] = "single,agentic",
    k: Annotated[str, typer.Option("--k", help="Samples per verdict (majority vote); a comma list sweeps.")] = "1",
    frames: Annotated[str, typer.Option(help="Overview frames; a comma list sweeps, e.g. 4,16,64.")] = "16",
    order: Annotated[OrderChoice, typer.Option(help="Presentation order inside the judge.")] = OrderChoice.fixed,
    max_turns: Annotated[int, typer.Option(help="Model turns before an agentic judge must conclude.")] = 6,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (default: the judge's).")] = None,
    max_output_tokens: MaxOutputTokensFlag = None,
    max_side: MaxSideFlag = None,
    max_images: MaxImagesFlag = None,
    concurrency: Annotated[int, typer.Option(help="Judgments in flight.")] = 8,
    limit: Annotated[int | None, typer.Option(help="Judge only the first N samples.")] = None,
    dims: Annotated[str | None, typer.Option(help="Comma list of dimensions ('probe/' keeps a family).")] = None,
    seed: Annotated[int, typer.Option(help="Seeds A/B placement and the judge.")] = 0,
    shard: Annotated[
        str | None, typer.Option(help="I/N: judge only shard I of N (by sample id; one RUN_DIR per shard).")
    ] = None,
    field_map: Annotated[
        str | None, typer.Option(help="videorewardbench columns, e.g. question=prompt,chosen=answers.0")
    ] = None,
    question_template: QuestionTemplateFlag = None,
    dim_map: DimMapFlag = None,
    cache: Annotated[str | None, typer.Option(help="Directory of an on-disk response cache.")] = None,
    force_new: Annotated[bool, typer.Option(help="Archive RUN_DIR's results and start over.")] = False,
    retry_errors: Annotated[bool, typer.Option(help="Judge again the cells that ended in error.")] = False,
    report: Annotated[bool, typer.Option(help="Write the report when the run ends.")] = True,
    invalid_policy: Annotated[str, typer.Option(help="Score of invalid/tie/refused/error: wrong | drop | half.")] = (
        "wrong"
    ),
) -> None:
    """Run a judge over a preference benchmark, single-pass and agentic; re-running resumes.

    Exit codes: 0 done (per-sample errors are results), 2 usage error, 3 configuration error or
    unreachable backend, 5 every record an error, 6 RUN_DIR in use, 7 disk full (resumable).
    """
    from pydantic import ValidationError  # noqa: PLC0415

    from vrb_agent.benchmark import BenchConfig, run_benchmark  # noqa: PLC0415
    from vrb_agent.benchmark.datasets import parse_dim_map, parse_field_map  # noqa: PLC0415

    name = checked_backend_name(backend)
    policy = checked_policy(invalid_policy)
    options = parse_backend_options(backend_option or [])
    sampling_option(name, temperature, options)
    try:
        config = BenchConfig(
            dataset=dataset,
            data=str(Path(data).expanduser().absolute()),
            backend=name,
            model=model,
            base_url=base_url,
            backend_options=options,
            modes=[m.strip() for m in modes.split(",") if m.strip()],
            k=int_list("--k", k),
            frames=int_list("--frames", frames),
            order=order.value,
            max_turns=max_turns,
            temperature=temperature,
            **budget_knobs(max_output_tokens, max_side, max_images),
            seed=seed,
            field_map=parse_field_map(field_map),
            question_template=question_template,
            dim_map=parse_dim_map(dim_map),
            concurrency=concurrency,
            limit=limit,
            dims=[d.strip() for d in dims.split(",")] if dims else None,
            shard=shard,
        )
        outcome = run_benchmark(config, out, force_new=force_new, retry_errors=retry_errors, cache_dir=cache)
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = BENCH_FLAGS.get(str(first["loc"][0]), str(first["loc"][0]))
        fail(f"{flag}: {first['msg']} (got {first.get('input')!r})", EXIT_USAGE)
    except KeyboardInterrupt:
        fail(
            f"interrupted; finished results are in {out}/results.jsonl; run the same command to resume",
            EXIT_INTERRUPTED,
        )
    if dataset == "videorewardbench":
        typer.echo("fields used: " + ", ".join(f"{k}={v}" for k, v in outcome.fields.items()), err=True)
    for note in outcome.notes:
        typer.echo(note, err=True)
    for issue in outcome.issues[:10]:
        typer.echo(f"skipped row: {issue}", err=True)
    if len(outcome.issues) > 10:
        typer.echo(f"... and {len(outcome.issues) - 10} more skipped rows (all listed in {out}/run.json)", err=True)
    for line in outcome.quarantined:
        typer.echo(f"{line}: moved to {out}/results.quarantine.jsonl, its cell is judged again", err=True)
    typer.echo(
        f"{outcome.done} judgments this run ({outcome.errors} errors), {outcome.already_done} done before, "
        f"{outcome.total_cells} cells in all -> {outcome.results_path}"
    )
    if cache:
        typer.echo(f"response cache: {outcome.cache_hits} hits, {outcome.cache_misses} misses ({cache})")
    every_error = outcome.records > 0 and outcome.error_records == outcome.records
    if every_error:
        typer.echo(f"warning: all {outcome.records} records are errors; see {out}/results.jsonl", err=True)
    if report:
        print_report([out], None, policy)
    if every_error:
        raise typer.Exit(EXIT_NO_VERDICT)


@app.command("report")
def report_command(
    run_dirs: Annotated[list[str], typer.Argument(metavar="RUN_DIR", hidden=True)],  # described in the docstring
    out: Annotated[str | None, typer.Option(help="Where to write the report (default: the first RUN_DIR).")] = None,
    invalid_policy: Annotated[str, typer.Option(help="Score of invalid/tie/refused/error: wrong | drop | half.")] = (
        "wrong"
    ),
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% CIs.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Report on one or more RUN_DIRs written by `vrb-agent bench`: summary.json, report.md and a
    self-contained report.html (several runs side by side, on their shared samples), plus trace pages.

    RUN_DIRs that are shards of one configuration (`bench --shard I/N`) are merged into one run.
    """
    policy = checked_policy(invalid_policy)
    if bootstrap < 100:
        fail(f"--bootstrap {bootstrap}: use at least 100 resamples", EXIT_USAGE)
    for run_dir in run_dirs:
        if not (Path(run_dir) / "results.jsonl").is_file():
            fail(f"{run_dir}: no results.jsonl here (is it a RUN_DIR written by `vrb-agent bench`?)", EXIT_USAGE)
    from vrb_agent.benchmark.merge import ShardError  # noqa: PLC0415

    try:
        print_report(run_dirs, out, policy, bootstrap, seed)
    except ShardError as exc:
        fail(str(exc), EXIT_USAGE)


# --- probes / demo (probe-suite issue) -----------------------------------------------------------

probes_app = typer.Typer(
    help="The perception probe suite: synthetic videos that test where judges go blind.", rich_markup_mode=None
)
app.add_typer(probes_app, name="probes")
app.add_typer(data_app, name="data")


@probes_app.command("make")
def probes_make(
    *,
    out: Annotated[Path, typer.Option("--out", help="directory for probes.jsonl and videos/")],
    n: Annotated[int, typer.Option("--n", help="probes per kind")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="same seed, same JSONL bytes and pixels")] = 0,
    difficulty: Annotated[
        str, typer.Option("--difficulty", help="easy | medium | hard | sweep (knobs drawn per probe)")
    ] = "medium",
    kinds: Annotated[str, typer.Option("--kinds", help="comma list of kinds (default: all)")] = "",
    width: Annotated[int | None, typer.Option("--width", help="video width, px")] = None,
    height: Annotated[int | None, typer.Option("--height", help="video height, px")] = None,
    fps: Annotated[float | None, typer.Option("--fps")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="video length, s")] = None,
    object_size: Annotated[int | None, typer.Option("--object-size", help="counted objects, px")] = None,
    attribute_size: Annotated[
        int | None, typer.Option("--attribute-size", help="the object whose shape is asked, px")
    ] = None,
    event_duration: Annotated[float | None, typer.Option("--event-duration", help="the brief flash, s")] = None,
    order_duration: Annotated[float | None, typer.Option("--order-duration", help="each ordered event, s")] = None,
    text_height: Annotated[int | None, typer.Option("--text-height", help="height of the small number, px")] = None,
    digits: Annotated[int | None, typer.Option("--digits", help="digits of the small number")] = None,
    distractors: Annotated[int | None, typer.Option("--distractors", help="objects of other colours")] = None,
    placement: Annotated[
        str | None, typer.Option("--placement", help="brief events: between overview samples | random")
    ] = None,
    overview_frames: Annotated[
        int | None, typer.Option("--overview-frames", help="the overview `between` avoids")
    ] = None,
) -> None:
    """Write DIR/probes.jsonl (generic JSONL, dimension probe/<kind>, knobs and truth in meta) and DIR/videos/."""
    from rich.progress import Progress  # noqa: PLC0415

    from vrb_agent.benchmark.probes import KINDS, write_suite  # noqa: PLC0415

    knobs = {
        "width": width,
        "height": height,
        "fps": fps,
        "duration": duration,
        "object_size": object_size,
        "attribute_size": attribute_size,
        "event_duration": event_duration,
        "order_duration": order_duration,
        "text_height": text_height,
        "digits": digits,
        "distractors": distractors,
        "placement": placement,
        "overview_frames": overview_frames,
    }
    chosen = [k.strip() for k in kinds.split(",") if k.strip()] or list(KINDS)
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("rendering probes", total=None)
            path = write_suite(
                out,
                n=n,
                seed=seed,
                difficulty=difficulty,
                kinds=chosen,
                overrides={k: v for k, v in knobs.items() if v is not None},
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except KeyboardInterrupt:
        fail(f"interrupted; {out}/probes.jsonl was not written (it is written last); run the command again", 130)
    typer.echo(f"wrote {n * len(chosen)} probes ({difficulty}, seed {seed}) to {path}")
    typer.echo(f"next: vrb-agent bench --dataset probes --data {out} --backend sim --out runs/probes")


@app.command("demo")
def demo(
    *,
    out: Annotated[
        Path | None, typer.Option("--out", help="directory to keep everything (default: a new temp dir)")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="probes per kind")] = 16,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    difficulty: Annotated[str, typer.Option("--difficulty", help="easy | medium | hard | sweep")] = "medium",
    concurrency: Annotated[int, typer.Option("--concurrency", help="judgments in flight")] = 2,
) -> None:
    """Offline demo: render a probe suite, judge it single-pass and agentic with the `sim` judge
    (a stand-in for demos and tests, not a reward model), write the report and print the headline."""
    import time  # noqa: PLC0415

    from vrb_agent.benchmark.demo import demo_root, run_demo  # noqa: PLC0415
    from vrb_agent.benchmark.report import SIGNIFICANCE_RULE, headline  # noqa: PLC0415

    started = time.perf_counter()
    root = demo_root(out)
    try:
        result = run_demo(
            root,
            n=n,
            seed=seed,
            difficulty=difficulty,
            concurrency=concurrency,
            on_stage=lambda s: typer.echo(f"• {s}"),
        )
    except KeyboardInterrupt:
        fail(f"interrupted; finished judgments are kept in {root}: `vrb-agent demo --out {root}` resumes", 130)
    typer.echo("")
    typer.echo(headline(result.report))
    typer.echo("")
    for line in result.findings():
        typer.echo(f"  {line}")
    typer.echo(f"  ({SIGNIFICANCE_RULE})")
    typer.echo("")
    typer.echo(
        f"done in {time.perf_counter() - started:.0f} s. Open the report: {result.paths['html'].resolve().as_uri()}"
    )
    typer.echo(f"  (also {result.paths['markdown']}; per-sample traces under {result.run_dir / 'traces'})")


def main() -> None:
    """Console-script entry point. Usage errors (typos in flags, bad values) become one line, exit 2."""
    try:
        code = app(standalone_mode=False)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "vrb-agent"
        typer.echo(f"error: {one_line(exc.format_message())} (see '{command} --help')", err=True)
        sys.exit(exc.exit_code)
    except ClickException as exc:
        if exc.format_message():  # no_args_is_help has already shown the help and has no message
            typer.echo(f"error: {one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
