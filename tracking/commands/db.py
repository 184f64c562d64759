"""`workup db`: migrate, locate and stop the database."""

from __future__ import annotations

import typer
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from tracking.db import database_url, stop_embedded
from tracking.settings import REPO_ROOT, get_settings

app = typer.Typer(help="Database: migrations and the embedded server.", no_args_is_help=True)


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return config


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    command.upgrade(alembic_config(), revision)
    typer.echo(f"database at revision {revision}", err=True)


@app.command()
def url() -> None:
    """Print the database URL in use (password hidden)."""
    typer.echo(make_url(database_url()).render_as_string(hide_password=True))


@app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL server, if it runs."""
    settings = get_settings()
    if settings.database_url:
        typer.echo("DATABASE_URL is set: there is no embedded server to stop", err=True)
        return
    stopped = stop_embedded(settings.workup_home)
    typer.echo("embedded PostgreSQL stopped" if stopped else "no embedded PostgreSQL here", err=True)
