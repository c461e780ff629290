"""The `vrb-agent` command line: judge, bench, report, probes, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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

probes_app = typer.Typer(help="The perception probe suite: synthetic videos that test where judges go blind.")
app.add_typer(probes_app, name="probes")


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

    from vrb_agent.benchmark.probes import KINDS, ProbeError, write_suite  # noqa: PLC0415

    knobs = {
        "width": width, "height": height, "fps": fps, "duration": duration, "object_size": object_size,
        "attribute_size": attribute_size, "event_duration": event_duration, "order_duration": order_duration,
        "text_height": text_height, "digits": digits, "distractors": distractors, "placement": placement,
        "overview_frames": overview_frames,
    }  # fmt: skip
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
    except ProbeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {n * len(chosen)} probes ({difficulty}, seed {seed}) to {path}")
    typer.echo(f"next: vrb-agent bench --dataset probes --data {out} --backend sim --out runs/probes")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
