"""leaders' instructions (批示) on cases

Revision ID: e5a9c3d17f42
Revises: d4f7a2c91b60
Create Date: 2026-12-06 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'e5a9c3d17f42'
down_revision = 'd4f7a2c91b60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "instruction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("carried_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("carried_out_by_id", sa.Integer(), nullable=True),
        sa.Column("carried_out_note", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["user_account.id"], name=op.f("fk_instruction_author_id_user_account")),
        sa.ForeignKeyConstraint(["carried_out_by_id"], ["user_account.id"], name=op.f("fk_instruction_carried_out_by_id_user_account")),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_instruction_case_id_case_file")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruction")),
    )
    with op.batch_alter_table("instruction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instruction_case_id"), ["case_id"], unique=False)


def downgrade():
    with op.batch_alter_table("instruction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instruction_case_id"))
    op.drop_table("instruction")
