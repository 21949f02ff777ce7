"""sign-in failures slow the next try, never lock an account

`login_throttle.locked_until` goes: a username's failures now only slow its next try
(at most a minute), so nobody can shut an account out by typing wrong passwords at it.

Revision ID: b7c41f2a9d3e
Revises: 5a510b5fa78d
Create Date: 2026-12-05 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c41f2a9d3e'
down_revision = '5a510b5fa78d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_column("locked_until")


def downgrade():
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
