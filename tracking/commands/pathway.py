"""`workup pathway`: check pathway files."""

from __future__ import annotations

from pathlib import Path

import typer

from tracking.pathway.definition import PathwayInvalid, load_pathway
from tracking.pathway.source import PathwayFileError

app = typer.Typer(help="Pathway definitions (config/pathways/*.yaml).", no_args_is_help=True)


@app.command()
def check(files: list[Path] = typer.Argument(..., help="Pathway YAML files")) -> None:
    """Validate pathway files; every problem is named with its file, line and place."""
    failed = False
    for path in files:
        try:
            pathway = load_pathway(path)
        except PathwayInvalid as invalid:
            failed = True
            for problem in invalid.problems:
                typer.echo(problem, err=True)
            continue
        except PathwayFileError as error:
            failed = True
            typer.echo(str(error), err=True)
            continue
        typer.echo(
            f"{path}: ok: {pathway.name} version {pathway.version}, {len(pathway.steps)} steps, "
            f"{len(pathway.events)} events"
        )
    if failed:
        raise typer.Exit(2)
