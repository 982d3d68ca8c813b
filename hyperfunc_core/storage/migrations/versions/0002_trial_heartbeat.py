"""Trials carry a heartbeat, so a trial whose process died on any host can be reclaimed.

Revision ID: 0002_trial_heartbeat
Revises: 0001_baseline
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_trial_heartbeat"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trial") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trial") as batch:
        batch.drop_column("heartbeat_at")
