"""The `send_reminders` flow: chase prior films, remind before visits, advance missed appointments."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from prefect import flow, get_run_logger, task

from flows.runtime import flow_now
from tracking.db import session_scope
from tracking.logs import phi_safe
from tracking.reminders.no_show import advance_missed_appointments
from tracking.reminders.priors import chase_prior_films
from tracking.reminders.visits import remind_upcoming_visits


@task(retries=2, retry_delay_seconds=[5, 30])
@phi_safe
def chase_priors(now: datetime) -> dict:
    with session_scope() as session:
        return asdict(chase_prior_films(session, now))


@task(retries=2, retry_delay_seconds=[5, 30])
@phi_safe
def remind_visits(now: datetime) -> int:
    with session_scope() as session:
        return remind_upcoming_visits(session, now)


@task(retries=2, retry_delay_seconds=[5, 30])
@phi_safe
def missed_appointments(now: datetime) -> dict:
    with session_scope() as session:
        return asdict(advance_missed_appointments(session, now))


@flow(name="send_reminders")
@phi_safe
def send_reminders(now: datetime | None = None) -> dict:
    moment = flow_now(now)
    report = {
        "prior_films": chase_priors(moment),
        "visit_reminders": remind_visits(moment),
        "missed_appointments": missed_appointments(moment),
    }
    get_run_logger().info("reminders: %s", report)
    return report
