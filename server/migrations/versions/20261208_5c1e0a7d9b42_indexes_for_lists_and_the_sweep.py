"""indexes for the lists and the sweep: each reads only what it shows or must chase

A department's cases come newest first from its assignments, which now carry the case's
received time; the lists of cases have an index for each way they are narrowed; the sweep,
the judicial-confirmation reminder and the identity purge read partial indexes of what they
look for (issue 20).

Revision ID: 5c1e0a7d9b42
Revises: 3b3fb388f370
Create Date: 2026-12-06 05:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1e0a7d9b42'
down_revision = '3b3fb388f370'
branch_labels = None
depends_on = None

SWEEP_WARN = "due_at IS NOT NULL AND clock_alert IS NULL"
SWEEP_DUE = "due_at IS NOT NULL AND (clock_alert IS NULL OR clock_alert = 'warn')"
AWAITING_REVIEW = (
    "(complaint_at IS NOT NULL OR return_requested_at IS NOT NULL"
    " OR extension_requested_until IS NOT NULL)"
)
IDENTITY_HELD = (
    "(reporter_name IS NOT NULL OR reporter_phone IS NOT NULL OR reporter_wechat IS NOT NULL)"
)

PARTIAL = {
    "ix_case_file_open_newest": (["created_at", "id"], "due_at IS NOT NULL"),
    "ix_case_file_open_village_newest": (["village_id", "created_at", "id"], "due_at IS NOT NULL"),
    "ix_case_file_sweep_warn": (["warn_at"], SWEEP_WARN),
    "ix_case_file_sweep_due": (["due_at"], SWEEP_DUE),
    "ix_case_file_mediated": (["resolved_at"], "result_code = 'mediated'"),
    "ix_case_file_identity_held": (["updated_at"], IDENTITY_HELD),
}
PARTIAL["ix_case_file_review"] = (["created_at", "id"], AWAITING_REVIEW)
PARTIAL["ix_case_file_review_village"] = (["village_id", "created_at", "id"], AWAITING_REVIEW)
HELD = "held_as_spam AND due_at IS NOT NULL"
PARTIAL["ix_case_file_held"] = (["urgent", "due_at", "id"], HELD)
# The queue's counts per status read from this index alone: it now carries the held flag.
QUEUE_STATUS = ["status", "urgent", "due_at", "id", "village_id", "category_id", "risk_level", "supervised"]
PLAIN = {
    "ix_case_file_newest": ["created_at", "id"],
    "ix_case_file_village_newest": ["village_id", "created_at", "id"],
    "ix_case_file_village_status_newest": ["village_id", "status", "created_at", "id"],
    "ix_case_file_status_newest": ["status", "created_at", "id"],
    "ix_case_file_category_newest": ["category_id", "created_at", "id"],
}


def upgrade():
    with op.batch_alter_table("case_assignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_created_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("case_assignment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("case_open", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    op.execute(
        "UPDATE case_assignment SET case_created_at ="
        " (SELECT created_at FROM case_file WHERE case_file.id = case_assignment.case_id)"
    )
    op.execute(
        "UPDATE case_assignment SET case_open = false WHERE case_id IN"
        " (SELECT id FROM case_file WHERE due_at IS NULL)"
    )
    with op.batch_alter_table("case_assignment", schema=None) as batch_op:
        batch_op.alter_column("case_created_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(
            "ix_case_assignment_department_newest",
            ["department_id", "case_created_at", "case_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_case_assignment_department_open_case",
            ["department_id", "case_created_at", "case_id"],
            unique=False,
            sqlite_where=sa.text("case_open"),
            postgresql_where=sa.text("case_open"),
        )
        batch_op.drop_index("ix_case_assignment_case_id")
        batch_op.create_index(
            "ix_case_assignment_case_department", ["case_id", "department_id"], unique=False
        )
    with op.batch_alter_table("case_document", schema=None) as batch_op:
        batch_op.create_index("ix_case_document_kind_signed", ["kind", "signed_at"], unique=False)
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        # What awaits review, oldest or newest first by received time (it was by id).
        batch_op.drop_index("ix_case_file_review")
        batch_op.drop_index("ix_case_file_queue_status")
        batch_op.create_index(
            "ix_case_file_queue_status",
            [*QUEUE_STATUS, "held_as_spam"],
            unique=False,
            sqlite_where=sa.text("due_at IS NOT NULL"),
            postgresql_where=sa.text("due_at IS NOT NULL"),
        )
        for name, columns in PLAIN.items():
            batch_op.create_index(name, columns, unique=False)
        for name, (columns, where) in PARTIAL.items():
            batch_op.create_index(
                name,
                columns,
                unique=False,
                sqlite_where=sa.text(where),
                postgresql_where=sa.text(where),
            )


def downgrade():
    with op.batch_alter_table("case_document", schema=None) as batch_op:
        batch_op.drop_index("ix_case_document_kind_signed")
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        for name in [*PARTIAL, *PLAIN, "ix_case_file_queue_status"]:
            batch_op.drop_index(name)
        batch_op.create_index(
            "ix_case_file_queue_status",
            QUEUE_STATUS,
            unique=False,
            sqlite_where=sa.text("due_at IS NOT NULL"),
            postgresql_where=sa.text("due_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_case_file_review",
            ["id"],
            unique=False,
            sqlite_where=sa.text(AWAITING_REVIEW),
            postgresql_where=sa.text(AWAITING_REVIEW),
        )
    with op.batch_alter_table("case_assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_case_assignment_department_newest")
        batch_op.drop_index("ix_case_assignment_department_open_case")
        batch_op.drop_index("ix_case_assignment_case_department")
        batch_op.create_index("ix_case_assignment_case_id", ["case_id"], unique=False)
        batch_op.drop_column("case_created_at")
        batch_op.drop_column("case_open")
