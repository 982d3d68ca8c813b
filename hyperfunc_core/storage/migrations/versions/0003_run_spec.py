"""ES and evolution runs keep their spec, so a worker in another process can run them from their name.

Revision ID: 0003_run_spec
Revises: 0002_trial_heartbeat
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_run_spec"
down_revision = "0002_trial_heartbeat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("esrun", "evolutionrun"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("spec", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    for table in ("esrun", "evolutionrun"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("spec")
