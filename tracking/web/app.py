"""The FastAPI application: pages for people, JSON under /api for machines.

Every route but /login and /healthz needs a signed-in user with the right role.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from tracking.db import get_engine

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    from tracking.logs import install as install_log_scrubber
    from tracking.web import (
        api,
        api_letter_sending,
        routes_audit,
        routes_auth,
        routes_case,
        routes_facilities,
        routes_fhir,
        routes_hl7_inbox,
        routes_hl7_messages,
        routes_letters,
        routes_new_case,
        routes_ops,
        routes_reports,
        routes_screening,
        routes_team,
        routes_worklist,
    )
    from tracking.web.errors import install_error_handlers
    from tracking.web.headers import install_security_headers

    # The schema and its docs are served by our own routes below, behind sign-in, not by FastAPI's.
    app = FastAPI(title="breast-workup", version="0.1.0", openapi_url=None, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    for module in (
        routes_auth,
        routes_worklist,
        routes_screening,
        routes_new_case,
        routes_case,
        routes_facilities,
        routes_letters,
        routes_ops,
        routes_audit,
        routes_team,
        routes_hl7_messages,
        routes_hl7_inbox,
        routes_reports,
        api,
        api_letter_sending,
        routes_fhir,
    ):
        app.include_router(module.router)

    _add_signed_in_docs(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with get_engine().connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    install_error_handlers(app)  # tracking/web/errors.py: one boundary, one error table
    install_security_headers(app)  # tracking/web/headers.py: no-store, CSP, no framing, on every response
    install_log_scrubber()  # again in each uvicorn worker, after uvicorn set up its logging (tracking/logs.py)

    return app


def _add_signed_in_docs(app: FastAPI) -> None:
    """`/openapi.json` and `/api/docs` for any signed-in user (session cookie or bearer token)."""
    from fastapi import Depends
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    from tracking.web.deps import require

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema(signed=Depends(require())) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(signed=Depends(require())) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")
