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


def _int_list(flag: str, text: str) -> list[int]:
    """`4,16,64` -> [4, 16, 64]; anything else is a usage error naming the flag."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        typer.echo(f"error: {flag} {text!r} is not a comma list of integers (e.g. {flag} 4,16,64)", err=True)
        raise typer.Exit(2)
    return values


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


BENCH_FLAGS = {
    "modes": "--modes",
    "frames": "--frames",
    "k": "--k",
    "max_turns": "--max-turns",
    "order": "--order",
    "temperature": "--temperature",
    "concurrency": "--concurrency",
    "limit": "--limit",
}


@app.command()
def bench(
    *,
    out: str = typer.Option(..., "--out", help="RUN_DIR: results.jsonl, run.json, evidence/, report"),
    data: str = typer.Option(..., "--data", help="dataset file or directory"),
    dataset: str = typer.Option("generic", "--dataset", help="generic | videorewardbench | vlrewardbench | probes"),
    backend: str = typer.Option(
        ..., "--backend", help="backend name (openai, vllm, anthropic, gemini, qwen, sim, ...)"
    ),
    model: str = typer.Option(None, "--model", help="model id (default: the backend's)"),
    base_url: str = typer.Option(None, "--base-url", help="API base URL (vllm and compatible servers)"),
    modes: str = typer.Option("single,agentic", "--modes", help="comma list of single, agentic"),
    k: str = typer.Option("1", "--k", help="samples per verdict (majority vote); comma list sweeps"),
    frames: str = typer.Option("16", "--frames", help="overview frames; comma list sweeps, e.g. 4,16,64"),
    order: str = typer.Option("fixed", "--order", help="presentation order inside the judge: fixed | random | both"),
    max_turns: int = typer.Option(6, "--max-turns", help="model calls per agentic judgment before it must conclude"),
    temperature: float = typer.Option(None, "--temperature", help="sampling temperature (default: the judge's)"),
    concurrency: int = typer.Option(8, "--concurrency", help="judgments in flight"),
    limit: int = typer.Option(None, "--limit", help="judge only the first N samples"),
    dims: str = typer.Option(None, "--dims", help="comma list of dimensions to keep ('probe/' keeps a family)"),
    seed: int = typer.Option(0, "--seed", help="seeds A/B placement and the judge"),
    field_map: str = typer.Option(
        None, "--field-map", help="videorewardbench columns, e.g. question=prompt,chosen=chosen"
    ),
    cache: str = typer.Option(None, "--cache", help="directory of an on-disk response cache (re-runs cost nothing)"),
    force_new: bool = typer.Option(False, "--force-new", help="archive RUN_DIR's results and start over"),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="judge again the cells that ended in error"),
    report: bool = typer.Option(True, "--report/--no-report", help="write the report when the run ends"),
    invalid_policy: str = typer.Option(
        "wrong", "--invalid-policy", help="invalid/tie/refused/error: wrong | drop | half"
    ),
) -> None:
    """Run a judge over a preference benchmark in single-pass and agentic mode (resumable)."""
    import json  # noqa: PLC0415 - imports inside commands keep `vrb-agent --help` fast
    from pathlib import Path  # noqa: PLC0415

    from pydantic import ValidationError  # noqa: PLC0415

    from vrb_agent.benchmark import BenchConfig, DatasetError, run_benchmark  # noqa: PLC0415
    from vrb_agent.benchmark.datasets import parse_field_map  # noqa: PLC0415
    from vrb_agent.benchmark.report import headline, write_report  # noqa: PLC0415
    from vrb_agent.judges.base import ConfigError  # noqa: PLC0415

    if invalid_policy not in ("wrong", "drop", "half"):
        raise _fail(2, f"--invalid-policy {invalid_policy!r}: choose wrong, drop or half")
    try:
        config = BenchConfig(
            dataset=dataset,
            data=str(Path(data).expanduser().absolute()),
            backend=backend,
            model=model,
            base_url=base_url,
            modes=[m.strip() for m in modes.split(",") if m.strip()],
            k=_int_list("--k", k),
            frames=_int_list("--frames", frames),
            order=order,
            max_turns=max_turns,
            temperature=temperature,
            seed=seed,
            field_map=parse_field_map(field_map),
            concurrency=concurrency,
            limit=limit,
            dims=[d.strip() for d in dims.split(",")] if dims else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = BENCH_FLAGS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise _fail(2, f"{flag}: {first['msg']} (got {first.get('input')!r})") from None
    except DatasetError as exc:
        raise _fail(2, str(exc)) from None
    try:
        outcome = run_benchmark(config, out, force_new=force_new, retry_errors=retry_errors, cache_dir=cache)
    except DatasetError as exc:
        raise _fail(2, str(exc)) from None
    except ConfigError as exc:
        raise _fail(3, str(exc)) from None
    except KeyboardInterrupt:
        message = f"interrupted; finished results are in {out}/results.jsonl; run the same command to resume"
        raise _fail(130, message) from None
    for issue in outcome.issues[:10]:
        typer.echo(f"skipped row: {issue}", err=True)
    if len(outcome.issues) > 10:
        typer.echo(f"... and {len(outcome.issues) - 10} more skipped rows (listed in {out}/run.json)", err=True)
    typer.echo(
        f"{outcome.done} judgments this run ({outcome.errors} errors), {outcome.already_done} already done, "
        f"{outcome.total_cells} cells in all -> {outcome.results_path}"
    )
    if cache:
        typer.echo(f"response cache: {outcome.cache_hits} hits, {outcome.cache_misses} misses ({cache})")
    if report:
        paths = write_report([out], invalid_policy=invalid_policy)
        typer.echo(headline(json.loads(paths["summary"].read_text())))
        typer.echo(f"report: {paths['html']} ({paths['markdown'].name}, {paths['summary'].name})")


@app.command()
def report(
    run_dirs: list[str] = typer.Argument(..., help="one or more RUN_DIRs written by `vrb-agent bench`"),  # noqa: B008
    out: str = typer.Option(None, "--out", help="where to write the report (default: the first RUN_DIR)"),
    invalid_policy: str = typer.Option(
        "wrong", "--invalid-policy", help="invalid/tie/refused/error: wrong | drop | half"
    ),
    bootstrap: int = typer.Option(2000, "--bootstrap", help="bootstrap resamples for the CIs"),
    seed: int = typer.Option(0, "--seed", help="bootstrap seed"),
) -> None:
    """Write summary.json, report.md and a self-contained report.html for one or more runs."""
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from vrb_agent.benchmark.report import headline, write_report  # noqa: PLC0415

    if invalid_policy not in ("wrong", "drop", "half"):
        raise _fail(2, f"--invalid-policy {invalid_policy!r}: choose wrong, drop or half")
    if bootstrap < 100:
        raise _fail(2, f"--bootstrap {bootstrap}: use at least 100 resamples")
    for run_dir in run_dirs:
        if not (Path(run_dir) / "results.jsonl").is_file():
            raise _fail(2, f"{run_dir}: no results.jsonl (is this a RUN_DIR written by `vrb-agent bench`?)")
    paths = write_report(run_dirs, out, invalid_policy=invalid_policy, n_boot=bootstrap, seed=seed)
    typer.echo(headline(json.loads(paths["summary"].read_text())))
    typer.echo(f"report: {paths['html']} ({paths['markdown'].name}, {paths['summary'].name})")


# --- probes / demo (probe-suite issue) -----------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
