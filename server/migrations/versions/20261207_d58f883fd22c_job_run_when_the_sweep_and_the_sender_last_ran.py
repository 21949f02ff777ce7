"""job_run: when the sweep and the sender last ran, for /healthz and /metrics

Revision ID: d58f883fd22c
Revises: 2806e34b8edb
Create Date: 2026-12-07 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'd58f883fd22c'
down_revision = '2806e34b8edb'
branch_labels = None
depends_on = None


def upgrade():
    job_run = op.create_table(
        "job_run",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_run")),
    )
    # The jobs' rows exist from the start: a run only ever updates its own row, so two
    # runs at once (two machines) never race to insert it.
    op.bulk_insert(job_run, [{"name": "sweep"}, {"name": "notify"}])


def downgrade():
    op.drop_table("job_run")
