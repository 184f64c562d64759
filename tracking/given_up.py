"""Work that gave up (a dead-lettered notification, a failed run request), picked for a retry."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from tracking.cases.errors import InvalidInput, NotFound


def given_up_rows(
    session: Session, model: Any, *, given_up: str, item_id: int | None, everything: bool, noun: str
) -> list[Any]:
    """One row by id (which must have given up) or every row that has, locked for the caller's transaction."""
    if item_id is not None and everything:
        raise InvalidInput(f"give a {noun} id or --all-failed, not both")
    if item_id is None and not everything:
        raise InvalidInput(f"give the id of a {noun}, or --all-failed")
    query = select(model).where(model.status == given_up).with_for_update()
    if item_id is not None:
        found = session.get(model, item_id)
        if found is None:
            raise NotFound(f"{noun} {item_id} does not exist")
        if found.status != given_up:
            raise InvalidInput(f"{noun} {item_id} is {found.status}, not {given_up}; only {given_up} ones are retried")
        query = query.where(model.id == item_id)
    return list(session.exec(query.order_by(model.id)))
