"""Worklist page and /api/overdue p50/p95 at the demo's size (`workup demo`), against `workup serve`.

python -m bench.demo_size
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from sqlmodel import Session

from bench import web
from bench.server import Serve


def main() -> int:
    from bench.run import server_url
    from tests.conftest import create_database, drop_database, migrate
    from tracking.db import engine_for
    from tracking.demo import load_demo, load_demo_users
    from tracking.users.service import create_api_token

    server = server_url(None)
    url = create_database(server, prefix="workup_demo_bench")
    try:
        migrate(url)
        now = datetime.now(UTC)
        with Session(engine_for(url)) as session:
            load_demo_users(session, now)
            load_demo(session, now)
            token = create_api_token(session, "ops", name="bench", actor="bench", now=now)
            session.commit()
        serve = Serve(url, workers=1)
        try:
            worklist = web.worklist_page(web.signed_in(serve.url, "nav", "navigator-demo"), 300)
            overdue = web.overdue_api(serve.url, token, 300)
        finally:
            serve.stop()
        print(f"demo size: worklist page {worklist.summary()}")
        print(f"demo size: /api/overdue {overdue.summary()}")
    finally:
        engine_for(url).dispose()
        drop_database(server, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
