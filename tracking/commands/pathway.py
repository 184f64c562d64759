"""`workup pathway`: check pathway files, including against the versions cases already use."""

from __future__ import annotations

from pathlib import Path

import typer

from tracking.pathway.definition import Pathway, PathwayInvalid, load_pathway
from tracking.pathway.source import PathwayFileError

app = typer.Typer(help="Pathway definitions (config/pathways/*.yaml).", no_args_is_help=True)


@app.command()
def check(
    files: list[Path] = typer.Argument(..., help="Pathway YAML files"),
    database: bool = typer.Option(
        None,
        "--database/--no-database",
        help="Compare with the versions cases use (default: when DATABASE_URL is set or the embedded database exists)",
    ),
) -> None:
    """Validate pathway files; every problem is named with its file, line and place.

    A file whose name and version cases already use, but whose content changed, is refused: change
    a pathway by adding a new version.
    """
    failed = False
    loaded: list[tuple[Path, Pathway]] = []
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
        loaded.append((path, pathway))
        typer.echo(
            f"{path}: ok: {pathway.name} version {pathway.version}, {len(pathway.steps)} steps, "
            f"{len(pathway.events)} events"
        )
    if loaded and _use_database(database):
        failed |= _changed_in_place(loaded)
    if failed:
        raise typer.Exit(2)


def _use_database(choice: bool | None) -> bool:
    if choice is not None:
        return choice
    from tracking.settings import get_settings

    settings = get_settings()
    return bool(settings.database_url) or (settings.workup_home / "pgdata").exists()


def _changed_in_place(loaded: list[tuple[Path, Pathway]]) -> bool:
    from tracking.cases.pathway_versions import changed_message, stored_hash
    from tracking.db import session_scope

    failed = False
    with session_scope() as session:
        for path, pathway in loaded:
            stored = stored_hash(session, pathway.name, pathway.version)
            if stored is not None and stored != pathway.content_hash:
                failed = True
                typer.echo(f"{path}: {changed_message(pathway, stored)}", err=True)
    return failed
