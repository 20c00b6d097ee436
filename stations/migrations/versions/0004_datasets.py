"""Hotspot datasets (issue 13).

* ``datasets``: named hotspot files kept by the home (``<home>/datasets/<id>.parquet``, normalised
  to WGS-84): name (unique), rows stored and skipped, points or H3 cells, the coordinate system and
  name of the uploaded file, its size, the SHA-256 of the stored file, who added it and when.  Ids
  are never reused (SQLite ``AUTOINCREMENT``).
* ``dataset_history``: every add, rename and remove, with who, when and the dataset before/after.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("datasets",
                    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column("name", sa.String(200), nullable=False),
                    sa.Column("rows", sa.BigInteger(), nullable=False),
                    sa.Column("skipped", sa.BigInteger(), nullable=False),
                    sa.Column("kind", sa.String(8), nullable=False),
                    sa.Column("crs", sa.String(8), nullable=False),
                    sa.Column("source_name", sa.String(500), nullable=False),
                    sa.Column("bytes", sa.BigInteger(), nullable=False),
                    sa.Column("sha256", sa.String(64), nullable=False),
                    sa.Column("created_at", sa.DateTime(), nullable=False),
                    sa.Column("created_by", sa.String(64), nullable=False),
                    sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("name"),
                    sqlite_autoincrement=True)
    op.create_table("dataset_history",
                    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column("dataset_id", sa.Integer(), nullable=False),
                    sa.Column("action", sa.String(16), nullable=False),
                    sa.Column("before", sa.Text(), nullable=True),
                    sa.Column("after", sa.Text(), nullable=True),
                    sa.Column("user", sa.String(64), nullable=False),
                    sa.Column("at", sa.DateTime(), nullable=False),
                    sa.Column("note", sa.String(500), nullable=False),
                    sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_dataset_history_dataset_id", "dataset_history", ["dataset_id"])


def downgrade() -> None:
    # the dataset files in <home>/datasets stay on disk (a later upgrade does not see them)
    op.drop_index("ix_dataset_history_dataset_id", table_name="dataset_history")
    op.drop_table("dataset_history")
    op.drop_table("datasets")
