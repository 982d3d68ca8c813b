"""Baseline: the tables as they were created before migrations existed (nothing to change).

A database made before this revision is stamped with it, then upgraded.

Revision ID: 0001_baseline
Revises:
"""

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
