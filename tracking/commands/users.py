"""`workup user`: add, list and disable users; issue API tokens."""

from __future__ import annotations

import getpass
import secrets
import sys

import typer

from tracking.cases.errors import InvalidInput
from tracking.commands.common import actor, console, now_or, print_json, table
from tracking.db import session_scope
from tracking.users.service import create_api_token, create_user, disable_user, list_users, sign_out_everywhere

app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)


def read_password(generate: bool) -> tuple[str, bool]:
    if generate:
        return secrets.token_urlsafe(12), True
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n"), False
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise InvalidInput("the two passwords differ")
    return first, False


@app.command("add")
def add(
    username: str,
    role: str = typer.Option(..., "--role", help="navigator, radiologist, ops, read_only or admin"),
    name: str = typer.Option("", "--name", help="Display name"),
    generate_password: bool = typer.Option(False, "--generate-password", help="Make one up and print it once"),
) -> None:
    """Add a user. The password comes from the prompt, standard input, or --generate-password."""
    password, generated = read_password(generate_password)
    with session_scope() as session:
        user = create_user(session, username=username, display_name=name or username, role=role, password=password,
                           actor=actor(), now=now_or(None))  # fmt: skip
    console.print(f"User {user.username} ({user.role}) added.")
    if generated:
        console.print(f"Password (shown once): {password}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """List users and their roles."""
    with session_scope() as session:
        users = list_users(session)
    rows = [{"username": u.username, "name": u.display_name, "role": u.role,
             "disabled": u.disabled_at.isoformat() if u.disabled_at else None} for u in users]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    grid = table("Users", ["Username", "Name", "Role", "Disabled"])
    for row in rows:
        grid.add_row(row["username"], row["name"], row["role"], row["disabled"] or "")
    console.print(grid)


@app.command("disable")
def disable(username: str) -> None:
    """Disable a user: sign-in refused, sessions ended, API tokens revoked."""
    with session_scope() as session:
        disable_user(session, username, actor=actor(), now=now_or(None))
    console.print(f"User {username} disabled.")


@app.command("sign-out-everywhere")
def sign_out_everywhere_command(username: str) -> None:
    """End every browser session of a user (API tokens stay; `user disable` revokes them too)."""
    with session_scope() as session:
        ended = sign_out_everywhere(session, username, actor=actor(), now=now_or(None))
    console.print(f"User {username.strip().lower()}: {ended} session{'' if ended == 1 else 's'} ended.")


@app.command("token")
def token(username: str, name: str = typer.Option("api", "--name", help="What the token is for")) -> None:
    """Issue an API token for a user (shown once; stored only as a hash)."""
    with session_scope() as session:
        value = create_api_token(session, username, name=name, actor=actor(), now=now_or(None))
    console.print(value)
