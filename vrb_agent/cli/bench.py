"""`vrb-agent bench` (a judge over a preference benchmark, resumable) and `vrb-agent report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vrb_agent.cli.app import app
from vrb_agent.cli.data import DimMapFlag, QuestionTemplateFlag
from vrb_agent.cli.exits import EXIT_NO_VERDICT, Interrupted
from vrb_agent.cli.inputs import (
    BackendFlag,
    BackendOptionFlag,
    BaseUrlFlag,
    MaxImagesFlag,
    MaxOutputTokensFlag,
    MaxSideFlag,
    ModelFlag,
    OrderChoice,
    ProtocolChoice,
    ProtocolFlag,
    TopPFlag,
    budget_knobs,
    checked_backend_name,
    parse_backend_options,
    sampling_option,
)
from vrb_agent.errors import InputError

if TYPE_CHECKING:
    from vrb_agent.benchmark import BenchConfig, RunOutcome

BENCH_FLAGS = {
    "modes": "--modes",
    "frames": "--frames",
    "k": "--k",
    "max_turns": "--max-turns",
    "order": "--order",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "protocol": "--protocol",
    "max_output_tokens": "--max-output-tokens",
    "max_side": "--max-side",
    "max_images": "--max-images",
    "concurrency": "--concurrency",
    "limit": "--limit",
    "dataset": "--dataset",
    "shard": "--shard",
    "controls": "--controls",
    "control_modes": "--control-modes",
    "escalate_when": "--escalate-when",
    "escalate_threshold": "--escalate-threshold",
    "budget_usd": "--budget-usd",
}
PolicyFlag = Annotated[
    str, typer.Option(help="Score of invalid/tie/refused/error: wrong | drop | half | random (a seeded coin flip).")
]
EscalateWhenFlag = Annotated[
    str, typer.Option(help="cascade: escalate to agentic when the orders disagree | low-confidence | both.")
]
ThresholdFlag = Annotated[float, typer.Option(help="cascade: escalate when the single-pass vote share is below this.")]
BudgetFlag = Annotated[
    float | None, typer.Option(help="Stop (exit 8, resumable) before the estimated spend passes this many USD.")
]


def int_list(flag: str, text: str) -> list[int]:
    """`4,16,64` -> [4, 16, 64]; anything else is a usage error naming the flag."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise InputError(f"{flag} {text!r} is not a comma list of integers (e.g. {flag} 4,16,64)")
    return values


def checked_policy(policy: str) -> str:
    from vrb_agent.benchmark.metrics import POLICIES  # noqa: PLC0415

    if policy not in POLICIES:
        raise InputError(f"--invalid-policy {policy!r}: choose one of {', '.join(POLICIES)}")
    return policy


def print_report(
    run_dirs: list[str], out: str | None, policy: str, *, seed: int, n_boot: int = 2000, rescore: bool = False
) -> None:
    """Write the report of the runs and print the headline table and where the report is. `seed` has no
    default: it seeds the bootstrap and the random policy's coin flips, so each caller passes its own."""
    from vrb_agent.benchmark.report import headline, write_report  # noqa: PLC0415

    paths = write_report(run_dirs, out, invalid_policy=policy, n_boot=n_boot, seed=seed, rescore=rescore)
    typer.echo(headline(json.loads(paths["summary"].read_text(encoding="utf-8"))))
    typer.echo(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['summary'].name})")


def control_flags(controls: str | None, modes: str | None) -> dict[str, list[str] | None]:
    """--controls blind,shuffled and --control-modes single as BenchConfig fields."""
    listed = [c.strip() for c in (controls or "").split(",") if c.strip()]
    return {"controls": listed, "control_modes": [m.strip() for m in modes.split(",") if m.strip()] if modes else None}


def bench_config(flags: dict[str, Any]) -> BenchConfig:
    """The BenchConfig of `bench`'s flags (by parameter name); a value it rejects is a usage
    error naming the flag."""
    from pydantic import ValidationError  # noqa: PLC0415

    from vrb_agent.benchmark import BenchConfig  # noqa: PLC0415
    from vrb_agent.benchmark.datasets import parse_dim_map, parse_field_map  # noqa: PLC0415

    name = checked_backend_name(flags["backend"])
    options = parse_backend_options(flags["backend_option"] or [])
    sampling_option(name, flags["temperature"], options)
    copied = ("dataset", "model", "base_url", "max_turns", "temperature", "seed", "concurrency", "limit", "shard",
              "escalate_when", "escalate_threshold", "budget_usd")  # fmt: skip
    try:
        return BenchConfig(
            **{key: flags[key] for key in copied},
            data=str(Path(flags["data"]).expanduser().absolute()),
            backend=name,
            backend_options=options,
            modes=[m.strip() for m in flags["modes"].split(",") if m.strip()],
            k=int_list("--k", flags["k"]),
            frames=int_list("--frames", flags["frames"]),
            order=flags["order"].value,
            protocol=flags["protocol"].value,
            top_p=flags["top_p"],
            **budget_knobs(flags["max_output_tokens"], flags["max_side"], flags["max_images"]),
            field_map=parse_field_map(flags["field_map"]),
            question_template=flags["question_template"],
            dim_map=parse_dim_map(flags["dim_map"]),
            dims=[d.strip() for d in flags["dims"].split(",")] if flags["dims"] else None,
            **control_flags(flags["controls"], flags["control_modes"]),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "protocol"  # the one model-wide check: order vs protocol
        flag = BENCH_FLAGS.get(field, field)
        raise InputError(f"{flag}: {first['msg']} (got {first.get('input')!r})") from None


def print_outcome(outcome: RunOutcome, out: str, dataset: str, cache: str | None) -> bool:
    """What the run did, on stdout (totals) and stderr (skipped rows, quarantined lines);
    True when every record is an error."""
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
    return every_error


def run_with_stops(config: BenchConfig, out: str, options: dict[str, Any], report_policy: str | None) -> RunOutcome:
    """run_benchmark; Ctrl-C leaves as Interrupted, and a --budget-usd stop first writes the report
    of what finished (with `report_policy`, unless the report is off) before its exit-8 error."""
    from vrb_agent.benchmark import run_benchmark  # noqa: PLC0415
    from vrb_agent.benchmark.spend import BudgetReachedError  # noqa: PLC0415

    try:
        return run_benchmark(config, out, **options)
    except KeyboardInterrupt:
        hint = f"finished results are in {out}/results.jsonl; run the same command to resume"
        raise Interrupted(f"interrupted; {hint}") from None
    except BudgetReachedError:
        if report_policy is not None:  # what finished is a valid (partial) run
            print_report([out], None, report_policy, seed=config.seed)
        raise


@app.command("bench")
def bench_command(  # noqa: PLR0917 - one parameter per flag is how typer declares them
    out: Annotated[str, typer.Option("--out", help="RUN_DIR: results.jsonl, run.json, evidence/, report.")],
    data: Annotated[str, typer.Option("--data", help="Dataset file or directory.")],
    dataset: Annotated[str, typer.Option(help="generic | videorewardbench | vlrewardbench | probes.")] = "generic",
    backend: BackendFlag = None,
    model: ModelFlag = None,
    base_url: BaseUrlFlag = None,
    backend_option: BackendOptionFlag = None,
    modes: Annotated[str, typer.Option(help="Comma list of single, agentic, cascade.")] = "single,agentic",
    escalate_when: EscalateWhenFlag = "disagree",
    escalate_threshold: ThresholdFlag = 1.0,
    budget_usd: BudgetFlag = None,
    k: Annotated[str, typer.Option("--k", help="Samples per verdict (majority vote); a comma list sweeps.")] = "1",
    frames: Annotated[str, typer.Option(help="Overview frames; a comma list sweeps, e.g. 4,16,64.")] = "16",
    order: Annotated[OrderChoice, typer.Option(help="Presentation order inside the judge.")] = OrderChoice.fixed,
    max_turns: Annotated[int, typer.Option(help="Model turns before an agentic judge must conclude.")] = 6,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (default: the protocol's).")] = None,
    top_p: TopPFlag = None,
    protocol: ProtocolFlag = ProtocolChoice.vrb_agent,
    max_output_tokens: MaxOutputTokensFlag = None,
    max_side: MaxSideFlag = None,
    max_images: MaxImagesFlag = None,
    concurrency: Annotated[int, typer.Option(help="Judgments in flight.")] = 8,
    limit: Annotated[int | None, typer.Option(help="Judge only the first N samples.")] = None,
    dims: Annotated[str | None, typer.Option(help="Comma list of dimensions ('probe/' keeps a family).")] = None,
    seed: Annotated[int, typer.Option(help="Seeds A/B placement, the judge and the report.")] = 0,
    shard: Annotated[
        str | None, typer.Option(help="I/N: judge only shard I of N (by sample id; one RUN_DIR per shard).")
    ] = None,
    field_map: Annotated[
        str | None, typer.Option(help="videorewardbench columns, e.g. question=prompt,chosen=answers.0")
    ] = None,
    question_template: QuestionTemplateFlag = None,
    dim_map: DimMapFlag = None,
    controls: Annotated[
        str | None, typer.Option(help="Comma list of blind, shuffled: control cells for visual dependence.")
    ] = None,
    control_modes: Annotated[str | None, typer.Option(help="Modes the controls run in (default: all).")] = None,
    cache: Annotated[str | None, typer.Option(help="Directory of an on-disk response cache.")] = None,
    force_new: Annotated[bool, typer.Option(help="Archive RUN_DIR's results and start over.")] = False,
    retry_errors: Annotated[bool, typer.Option(help="Judge again the cells that ended in error.")] = False,
    report: Annotated[bool, typer.Option(help="Write the report when the run ends.")] = True,
    invalid_policy: PolicyFlag = "wrong",
) -> None:
    """Run a judge over a preference benchmark, single-pass and agentic; re-running resumes.

    Exit codes: 0 done (per-sample errors are results), 2 usage error, 3 configuration error or
    unreachable backend, 5 every record an error, 6 RUN_DIR in use, 7 disk full (resumable),
    8 --budget-usd reached (resumable; the report covers what finished).
    """
    policy = checked_policy(invalid_policy)
    config = bench_config(dict(locals()))
    options = {"force_new": force_new, "retry_errors": retry_errors, "cache_dir": cache, "invalid_policy": policy}
    outcome = run_with_stops(config, out, options, policy if report else None)
    every_error = print_outcome(outcome, out, dataset, cache)
    if report:
        print_report([out], None, policy, seed=seed)
    if every_error:
        raise typer.Exit(EXIT_NO_VERDICT)


@app.command("report")
def report_command(  # noqa: PLR0917 - one parameter per flag is how typer declares them
    run_dirs: Annotated[list[str], typer.Argument(metavar="RUN_DIR", hidden=True)],  # described in the docstring
    out: Annotated[str | None, typer.Option(help="Where to write the report (default: the first RUN_DIR).")] = None,
    invalid_policy: PolicyFlag = "wrong",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% CIs.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed (also seeds the random policy's coin flips).")] = 0,
    rescore: Annotated[
        bool, typer.Option(help="Also score every condition under each invalid policy and vote rule, side by side.")
    ] = False,
) -> None:
    """Report on one or more RUN_DIRs written by `vrb-agent bench`: summary.json, report.md and a
    self-contained report.html (several runs side by side, on their shared samples), plus trace pages.

    RUN_DIRs that are shards of one configuration (`bench --shard I/N`) are merged into one run.
    """
    policy = checked_policy(invalid_policy)
    if bootstrap < 100:
        raise InputError(f"--bootstrap {bootstrap}: use at least 100 resamples")
    from vrb_agent.benchmark.rundir import RunDir  # noqa: PLC0415

    for run_dir in run_dirs:
        if not RunDir(run_dir).results.is_file():
            raise InputError(f"{run_dir}: no results.jsonl here (is it a RUN_DIR written by `vrb-agent bench`?)")
    print_report(run_dirs, out, policy, seed=seed, n_boot=bootstrap, rescore=rescore)
