"""initial schema: projects, sweeps, trials, metrics, coordinate checks, plans, target runs, events, tokens

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:53:58.131966
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

DEFAULT_PROJECT = "default"  # orchestrator.store.models.DEFAULT_PROJECT; migrations never import models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    projects = sa.table(
        "projects",
        sa.column("name", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(projects, [{"name": DEFAULT_PROJECT, "created_at": datetime.now(UTC)}])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_api_tokens_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_project_id"), ["project_id"], unique=False)

    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("spec_version", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("total_trials", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_sweeps_project_id_projects"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sweeps_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sweeps_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_sweeps_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sweeps_status"), ["status"], unique=False)

    op.create_table(
        "coord_check_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("parametrization", sa.String(length=32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id"],
            ["sweeps.id"],
            name=op.f("fk_coord_check_results_sweep_id_sweeps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coord_check_results")),
    )
    with op.batch_alter_table("coord_check_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coord_check_results_sweep_id"), ["sweep_id"], unique=False)

    op.create_table(
        "sweep_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_sweep_events_sweep_id_sweeps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_events")),
    )
    with op.batch_alter_table("sweep_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sweep_events_sweep_id"), ["sweep_id"], unique=False)

    op.create_table(
        "sweep_tags",
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_sweep_tags_sweep_id_sweeps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sweep_id", "tag", name=op.f("pk_sweep_tags")),
    )
    with op.batch_alter_table("sweep_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sweep_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "target_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("hparams", sa.JSON(), nullable=False),
        sa.Column("predicted_loss", sa.Float(), nullable=True),
        sa.Column("predicted_low", sa.Float(), nullable=True),
        sa.Column("predicted_high", sa.Float(), nullable=True),
        sa.Column("realized_loss", sa.Float(), nullable=True),
        sa.Column("within_interval", sa.Boolean(), nullable=True),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_target_runs_sweep_id_sweeps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_runs")),
    )
    with op.batch_alter_table("target_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_target_runs_sweep_id"), ["sweep_id"], unique=False)

    op.create_table(
        "transfer_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_transfer_plans_sweep_id_sweeps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_plans")),
        sa.UniqueConstraint("sweep_id", "version", name=op.f("uq_transfer_plans_sweep_id_version")),
    )
    with op.batch_alter_table("transfer_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_plans_sweep_id"), ["sweep_id"], unique=False)

    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("trial_key", sa.String(length=200), nullable=False),
        sa.Column("parametrization", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("search_index", sa.Integer(), nullable=False),
        sa.Column("hparams", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("final_loss", sa.Float(), nullable=True),
        sa.Column("best_loss", sa.Float(), nullable=True),
        sa.Column("final_val_loss", sa.Float(), nullable=True),
        sa.Column("diverged", sa.Boolean(), nullable=False),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker_node", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_trials_sweep_id_sweeps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trials")),
        sa.UniqueConstraint("sweep_id", "trial_key", name=op.f("uq_trials_sweep_id_trial_key")),
    )
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trials_sweep_id"), ["sweep_id"], unique=False)
        batch_op.create_index("ix_trials_sweep_id_status", ["sweep_id", "status"], unique=False)

    op.create_table(
        "target_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_run_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.Column("grad_norm", sa.Float(), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=True),
        sa.Column("wall_time", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["target_run_id"],
            ["target_runs.id"],
            name=op.f("fk_target_metrics_target_run_id_target_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_metrics")),
        sa.UniqueConstraint("target_run_id", "step", name=op.f("uq_target_metrics_target_run_id_step")),
    )
    with op.batch_alter_table("target_metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_target_metrics_target_run_id"), ["target_run_id"], unique=False)

    op.create_table(
        "trial_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.Column("grad_norm", sa.Float(), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=True),
        sa.Column("wall_time", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.id"], name=op.f("fk_trial_metrics_trial_id_trials"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_metrics")),
        sa.UniqueConstraint("trial_id", "step", name=op.f("uq_trial_metrics_trial_id_step")),
    )
    with op.batch_alter_table("trial_metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trial_metrics_trial_id"), ["trial_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trial_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trial_metrics_trial_id"))

    op.drop_table("trial_metrics")
    with op.batch_alter_table("target_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_target_metrics_target_run_id"))

    op.drop_table("target_metrics")
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index("ix_trials_sweep_id_status")
        batch_op.drop_index(batch_op.f("ix_trials_sweep_id"))

    op.drop_table("trials")
    with op.batch_alter_table("transfer_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_plans_sweep_id"))

    op.drop_table("transfer_plans")
    with op.batch_alter_table("target_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_target_runs_sweep_id"))

    op.drop_table("target_runs")
    with op.batch_alter_table("sweep_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweep_tags_tag"))

    op.drop_table("sweep_tags")
    with op.batch_alter_table("sweep_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweep_events_sweep_id"))

    op.drop_table("sweep_events")
    with op.batch_alter_table("coord_check_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coord_check_results_sweep_id"))

    op.drop_table("coord_check_results")
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweeps_status"))
        batch_op.drop_index(batch_op.f("ix_sweeps_project_id"))
        batch_op.drop_index(batch_op.f("ix_sweeps_name"))
        batch_op.drop_index(batch_op.f("ix_sweeps_created_at"))

    op.drop_table("sweeps")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_project_id"))

    op.drop_table("api_tokens")
    op.drop_table("projects")
