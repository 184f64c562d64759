"""POST /api/letters/{letter_id}/send: queue a produced letter for delivery by fax or email (navigators).

The same service as `workup letter send` (tracking/letters/sending.py); errors as the rest of the API:
404 unknown letter, 422 refused (already sent or queued, no fax number, plain SMTP, a patient's letter).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tracking.letters.sending import send_letter
from tracking.pathway.fields import INT4_MAX
from tracking.users.roles import SEND_LETTERS
from tracking.web.deps import NowDep, SessionDep, require

router = APIRouter(prefix="/api", tags=["api"])

LetterId = Annotated[int, Path(ge=1, le=INT4_MAX, description="Letter id")]


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(
        default=None, min_length=1, max_length=254,
        description="Fax number or email address, by the letter's channel; default: the facility's recorded contact",
    )  # fmt: skip


@router.post("/letters/{letter_id}/send", status_code=202)
def api_send_letter(
    letter_id: LetterId,
    session: SessionDep,
    now: NowDep,
    body: Annotated[SendIn | None, Body()] = None,
    signed=Depends(require(*SEND_LETTERS)),
) -> Any:
    """Queue the letter for delivery (202); it is marked sent once the mail server accepts it."""
    queued = send_letter(session, letter_id, actor=signed.user.username, now=now, to=body.to if body else None)
    return JSONResponse(queued.as_json(), status_code=202)
