"""`workup worker`: one long-lived process that runs case runs and delivery as soon as work is written.

A trigger NOTIFYs `workup_work` when a row goes into `case_runs` or `notifications` (migration 0016);
the worker LISTENs and runs the existing flows in its own process, not a process per flow run.
"""
