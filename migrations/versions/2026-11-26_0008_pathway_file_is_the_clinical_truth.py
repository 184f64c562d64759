"""The pathway file is the clinical truth; stalled cases and screening after closure are watched.

Reviewed by hand.
- `pathway_versions`: each pathway name and version a case has used, with the content hash of the
  file it was read from (a version in use must never change in place) and the timeliness
  milestones from the file, which the `case_timeliness` view now reads instead of naming steps.
- `cases.pathway_hash` (the content hash the case was opened under), `cases.palpable` (a palpable
  finding is never closed silently on negative imaging), `steps.target_at` (a follow-up's target
  date; `due_at` is the end of its window).
- Clinical vocabularies leave the database: the CHECKs on finding type, BI-RADS, disposition, step
  kind and event kind are dropped, because the pathway files define them (and a second pathway
  adds its own); the engine validates every value against the case's pathway before a write.
- `alerts.kind` gains `case_stalled` (an open or lost case with nothing dated and nothing
  alerting), at most one unresolved per case.
- A partial index on handed-off screening steps' due time, read by the sweep and the recall list.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT_KINDS_BEFORE = "'overdue_step', 'delivery_failed', 'run_stalled'"
ALERT_KINDS_AFTER = "'overdue_step', 'delivery_failed', 'run_stalled', 'case_stalled'"

TIMELINESS_BEFORE = """
        WITH imaging AS (
            SELECT case_id, min(completed_at) AS at FROM steps
            WHERE kind = 'magnification_views' AND status = 'completed' GROUP BY case_id
        ), biopsy AS (
            SELECT case_id, min(completed_at) AS at FROM steps
            WHERE kind IN ('stereotactic_biopsy', 'open_surgical_biopsy') AND status = 'completed' GROUP BY case_id
        ), diagnosis AS (
            SELECT case_id, min(occurred_at) AS at FROM case_events
            WHERE kind = 'pathology_result'
               OR (kind IN ('magnification_result', 'assessment', 'followup_imaging_result')
                   AND payload->>'birads' IN ('1', '2', '3'))
            GROUP BY case_id
        )
        SELECT c.id AS case_id, c.status, c.opened_at AS abnormal_finding_at, imaging.at AS diagnostic_imaging_at,
               biopsy.at AS biopsy_at, diagnosis.at AS diagnosis_at,
               round((extract(epoch FROM biopsy.at - imaging.at) / 86400)::numeric, 1) AS days_imaging_to_biopsy,
               round((extract(epoch FROM diagnosis.at - c.opened_at) / 86400)::numeric, 1) AS days_finding_to_diagnosis
        FROM cases c
        LEFT JOIN imaging ON imaging.case_id = c.id
        LEFT JOIN biopsy ON biopsy.case_id = c.id
        LEFT JOIN diagnosis ON diagnosis.case_id = c.id
"""

# Milestones come from each case's pathway version (pathway_versions.milestones, written from the
# file's `timeliness:` section): which completed steps are diagnostic imaging and biopsy, and which
# events (or which assessments) are a diagnosis.
TIMELINESS_AFTER = """
        WITH milestones AS (
            SELECT c.id AS case_id, p.milestones AS m
            FROM cases c
            JOIN pathway_versions p ON p.name = c.pathway_name AND p.version = c.pathway_version
        ), imaging AS (
            SELECT s.case_id, min(s.completed_at) AS at FROM steps s JOIN milestones x ON x.case_id = s.case_id
            WHERE s.status = 'completed' AND x.m -> 'diagnostic_imaging' @> to_jsonb(s.kind) GROUP BY s.case_id
        ), biopsy AS (
            SELECT s.case_id, min(s.completed_at) AS at FROM steps s JOIN milestones x ON x.case_id = s.case_id
            WHERE s.status = 'completed' AND x.m -> 'biopsy' @> to_jsonb(s.kind) GROUP BY s.case_id
        ), diagnosis AS (
            SELECT e.case_id, min(e.occurred_at) AS at FROM case_events e JOIN milestones x ON x.case_id = e.case_id
            WHERE x.m -> 'diagnosis' -> 'events' @> to_jsonb(e.kind)
               OR (x.m -> 'diagnosis' -> 'assessment_events' @> to_jsonb(e.kind)
                   AND x.m -> 'diagnosis' -> 'birads' @> to_jsonb(e.payload ->> 'birads'))
            GROUP BY e.case_id
        )
        SELECT c.id AS case_id, c.status, c.pathway_name, c.opened_at AS abnormal_finding_at,
               imaging.at AS diagnostic_imaging_at, biopsy.at AS biopsy_at, diagnosis.at AS diagnosis_at,
               round((extract(epoch FROM biopsy.at - imaging.at) / 86400)::numeric, 1) AS days_imaging_to_biopsy,
               round((extract(epoch FROM diagnosis.at - c.opened_at) / 86400)::numeric, 1) AS days_finding_to_diagnosis
        FROM cases c
        LEFT JOIN imaging ON imaging.case_id = c.id
        LEFT JOIN biopsy ON biopsy.case_id = c.id
        LEFT JOIN diagnosis ON diagnosis.case_id = c.id
"""

DROPPED_CHECKS = {
    "cases": {
        "finding_type": "finding_type IN ('calcifications', 'mass', 'asymmetry', 'architectural_distortion')",
        "birads": "birads IN ('0', '1', '2', '3', '4A', '4B', '4C', '5', '6')",
        "disposition": "disposition IN ('returned_to_screening', 'referred_to_surgery')",
    },
    "case_events": {
        "kind": (
            "kind IN ('case_opened', 'magnification_result', 'assessment', 'ultrasound_result', "
            "'prior_films_received', 'prior_films_unobtainable', 'biopsy_scheduled', 'stereotactic_infeasible', "
            "'biopsy_performed', 'pathology_result', 'repeat_biopsy_ordered', 'surgical_consultation_done', "
            "'followup_imaging_result', 'result_letter_sent', 'screening_done', 'appointment_missed', "
            "'contact_attempt', 'lost_to_follow_up_declared', 'appointment_booked')"
        ),
    },
    "steps": {
        "kind": (
            "kind IN ('magnification_views', 'ultrasound', 'prior_film_request', 'final_assessment', "
            "'result_letter', 'annual_screening', 'stereotactic_biopsy', 'open_surgical_biopsy', "
            "'rad_path_concordance', 'surgical_consultation', 'followup_6_month', 'followup_12_month', "
            "'followup_24_month', 'patient_contact')"
        ),
    },
}


def upgrade() -> None:
    op.create_table(
        "pathway_versions",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("milestones", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(content_hash) = 64", name=op.f("ck_pathway_versions_content_hash_sha256")),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_pathway_versions")),
    )
    op.add_column("cases", sa.Column("pathway_hash", sa.String(length=64), nullable=True))
    op.add_column("cases", sa.Column("palpable", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("steps", sa.Column("target_at", sa.DateTime(timezone=True), nullable=True))
    for table, checks in DROPPED_CHECKS.items():
        for name in checks:
            op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.create_check_constraint(op.f("ck_alerts_kind"), "alerts", f"kind IN ({ALERT_KINDS_AFTER})")
    op.create_index(
        "uq_alerts_one_unresolved_stalled_case_per_case",
        "alerts",
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'case_stalled' AND status <> 'resolved'"),
    )
    op.create_index(
        "ix_steps_handed_off_due", "steps", ["due_at"], unique=False, postgresql_where=sa.text("status = 'handed_off'")
    )
    op.execute("DROP VIEW case_timeliness")
    op.execute(f"CREATE VIEW case_timeliness AS {TIMELINESS_AFTER}")


def downgrade() -> None:
    op.execute("DROP VIEW case_timeliness")
    op.execute(f"CREATE VIEW case_timeliness AS {TIMELINESS_BEFORE}")
    op.drop_index("ix_steps_handed_off_due", table_name="steps", postgresql_where=sa.text("status = 'handed_off'"))
    op.drop_index(
        "uq_alerts_one_unresolved_stalled_case_per_case",
        table_name="alerts",
        postgresql_where=sa.text("kind = 'case_stalled' AND status <> 'resolved'"),
    )
    op.execute("DELETE FROM alerts WHERE kind = 'case_stalled'")
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.create_check_constraint(op.f("ck_alerts_kind"), "alerts", f"kind IN ({ALERT_KINDS_BEFORE})")
    for table, checks in DROPPED_CHECKS.items():
        for name, condition in checks.items():
            op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, condition)
    op.drop_column("steps", "target_at")
    op.drop_column("cases", "palpable")
    op.drop_column("cases", "pathway_hash")
    op.drop_table("pathway_versions")
