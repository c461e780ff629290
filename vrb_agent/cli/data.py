"""`vrb-agent data check`: what a benchmark run would load from a dataset, without judging it.
Registered on the root app here; its errors leave through the root's one error mapping (cli.exits)."""

from __future__ import annotations

from typing import Annotated

import typer

from vrb_agent.cli.app import app

QuestionTemplateFlag = Annotated[
    str | None,
    typer.Option(help="videorewardbench: build the question from columns, e.g. '{question}\\nOptions: {options}'."),
]
DimMapFlag = Annotated[
    str | None,
    typer.Option(help="videorewardbench: rename the file's dimensions, e.g. 'temporal=short-form perception'."),
]

data_app = typer.Typer(help="Inspect datasets before running a benchmark.", rich_markup_mode=None)
app.add_typer(data_app, name="data")


@data_app.command("check")
def data_check(
    data: Annotated[str, typer.Option("--data", help="Dataset file or directory.")],
    dataset: Annotated[str, typer.Option(help="generic | videorewardbench | vlrewardbench | probes.")] = "generic",
    field_map: Annotated[str | None, typer.Option(help="videorewardbench columns, e.g. question=prompt")] = None,
    question_template: QuestionTemplateFlag = None,
    dim_map: DimMapFlag = None,
) -> None:
    """Print the fields used, counts per dimension and source, duplicates, missing media and
    placeholder tokens. Exit codes: 0 loaded, 2 the dataset cannot be used, 3 a missing extra."""
    from vrb_agent.benchmark.datasets import load_dataset  # noqa: PLC0415
    from vrb_agent.benchmark.datasets.check import check_report  # noqa: PLC0415

    loaded = load_dataset(dataset, data, field_map=field_map, question_template=question_template, dim_map=dim_map)
    for line in check_report(loaded):
        typer.echo(line)
