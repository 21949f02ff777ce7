"""three duties: security admin and auditor roles

The role column is a VARCHAR with a CHECK constraint (server.models.base.enum_type): the
constraint is replaced to admit the two new roles, and the column widened for them.

Revision ID: fc1dc17e4824
Revises: 1ac6c8673b69
Create Date: 2026-12-02 02:08:09.922503

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fc1dc17e4824'
down_revision = '1ac6c8673b69'
branch_labels = None
depends_on = None


OLD = ("grid_worker", "handler", "center", "leader", "admin")
NEW = (*OLD, "security_admin", "auditor")


def _enum(values):
    return sa.Enum(*values, name="role", native_enum=False, create_constraint=True,
                   length=max(map(len, values)))


def _change(old, new):
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_user_account_role"), "user_account", type_="check")
        op.alter_column("user_account", "role", type_=sa.String(max(map(len, new))),
                        existing_type=sa.String(max(map(len, old))), existing_nullable=False)
        op.create_check_constraint(op.f("ck_user_account_role"), "user_account",
                                   sa.column("role").in_(new))
    else:  # SQLite: the table is rebuilt with the new constraint
        with op.batch_alter_table("user_account", schema=None) as batch_op:
            batch_op.alter_column("role", existing_type=_enum(old), type_=_enum(new),
                                  existing_nullable=False)


def upgrade():
    _change(OLD, NEW)


def downgrade():
    # The old schema knows neither duty: such accounts become disabled system admins.
    users = sa.table("user_account", sa.column("role", sa.String), sa.column("active", sa.Boolean))
    op.execute(users.update().where(users.c.role.in_(["security_admin", "auditor"]))
               .values(role="admin", active=False))
    _change(NEW, OLD)
