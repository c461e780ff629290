"""`vrb-agent probes make` (the synthetic perception probe suite) and `vrb-agent demo`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from vrb_agent.cli.app import app
from vrb_agent.cli.exits import Interrupted

probes_app = typer.Typer(
    help="The perception probe suite: synthetic videos that test where judges go blind.", rich_markup_mode=None
)
app.add_typer(probes_app, name="probes")


def render_suite(out: Path, *, n: int, seed: int, difficulty: str, kinds: list[str], knobs: dict[str, Any]) -> Path:
    """Write the suite with a progress bar; the knobs given override the difficulty's."""
    from rich.progress import Progress  # noqa: PLC0415

    from vrb_agent.benchmark.probes import write_suite  # noqa: PLC0415

    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("rendering probes", total=None)
            return write_suite(
                out,
                n=n,
                seed=seed,
                difficulty=difficulty,
                kinds=kinds,
                overrides={k: v for k, v in knobs.items() if v is not None},
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; {out}/probes.jsonl was not written (it is written last); run the command again"
        ) from None


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
    knobs = {key: value for key, value in locals().items() if key not in ("out", "n", "seed", "difficulty", "kinds")}
    from vrb_agent.benchmark.probes import KINDS  # noqa: PLC0415

    chosen = [k.strip() for k in kinds.split(",") if k.strip()] or list(KINDS)
    path = render_suite(out, n=n, seed=seed, difficulty=difficulty, kinds=chosen, knobs=knobs)
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
    """Offline demo: render a probe suite, judge it single-pass, agentic and as a cascade with the
    `sim` judge (a stand-in for demos and tests, not a reward model), write the report and print the
    headline."""
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
        raise Interrupted(
            f"interrupted; finished judgments are kept in {root}: `vrb-agent demo --out {root}` resumes"
        ) from None
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
