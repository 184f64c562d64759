"""The embedded scheduler: one leader per database by advisory lock, coalescing jobs, failover."""

from __future__ import annotations

import threading

from tracking.scheduler import EmbeddedScheduler, Job, default_jobs
from tracking.settings import Settings


def settings(**values) -> Settings:
    return Settings(**values)


def test_only_one_scheduler_fires_and_the_other_takes_over(database_url):
    fired = {"a": 0, "b": 0}
    jobs_a = [Job("tick", 3600, lambda: fired.__setitem__("a", fired["a"] + 1))]
    jobs_b = [Job("tick", 3600, lambda: fired.__setitem__("b", fired["b"] + 1))]
    first = EmbeddedScheduler(database_url, settings(), jobs_a)
    second = EmbeddedScheduler(database_url, settings(), jobs_b)
    try:
        assert first.try_become_leader() is True
        assert second.try_become_leader() is False
        assert (first.is_leader, second.is_leader) == (True, False)
        assert [job["id"] for job in first.scheduled_jobs()] == ["tick"]
        assert second.scheduled_jobs() == []
        first.stop()  # the leader's session ends; its advisory lock goes with it
        assert second.try_become_leader() is True
    finally:
        first.stop()
        second.stop()


def test_election_loop_elects_exactly_one(database_url):
    schedulers = [
        EmbeddedScheduler(database_url, settings(), [Job("tick", 3600, lambda: None)], standby_poll_seconds=0.05)
        for _ in range(3)
    ]
    elected = threading.Event()
    try:
        for scheduler in schedulers:
            scheduler.start()
        for _ in range(200):
            if any(scheduler.is_leader for scheduler in schedulers):
                elected.set()
                break
            elected.wait(0.05)
        assert elected.is_set()
        assert sum(scheduler.is_leader for scheduler in schedulers) == 1
    finally:
        for scheduler in schedulers:
            scheduler.stop()


def test_default_jobs_coalesce_with_misfire_grace(database_url):
    configured = settings(WORKUP_SWEEP_EVERY_SECONDS=120, WORKUP_MISFIRE_GRACE_SECONDS=30)
    jobs = default_jobs(configured)
    assert [job.name for job in jobs] == [
        "run_pending_case_runs",
        "sweep_overdue_steps",
        "send_reminders",
        "deliver_notifications",
    ]
    scheduler = EmbeddedScheduler(database_url, configured, jobs)
    try:
        assert scheduler.try_become_leader()
        described = {job["id"]: job for job in scheduler.scheduled_jobs()}
        assert described["sweep_overdue_steps"]["trigger"] == "interval[0:02:00]"
        assert all(job["coalesce"] and job["max_instances"] == 1 for job in described.values())
        assert all(job["misfire_grace_time"] == 30 for job in described.values())
    finally:
        scheduler.stop()
