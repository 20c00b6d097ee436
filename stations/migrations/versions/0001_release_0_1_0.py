"""The registry schema of release 0.1.0 (before migrations existed).

A database made by that release has these tables but no ``alembic_version``: each table is created
only when missing, so upgrading such a database from the base keeps its rows, and an empty database
gets the whole schema.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list[tuple[str, list, list[tuple[str, list[str]]]]]:
    """(table, columns and constraints, indexes) as release 0.1.0 created them."""
    return [
        ("stations", [
            sa.Column("id", sa.String(64), nullable=False), sa.Column("name", sa.String(200), nullable=False),
            sa.Column("type", sa.String(32), nullable=False), sa.Column("groups", sa.String(200), nullable=False),
            sa.Column("address", sa.String(500), nullable=False), sa.Column("adcode", sa.String(12), nullable=False),
            sa.Column("host", sa.String(100), nullable=False), sa.Column("services", sa.String(500), nullable=False),
            sa.Column("hours", sa.String(300), nullable=False), sa.Column("capacity", sa.Integer(), nullable=True),
            sa.Column("phone", sa.String(100), nullable=False), sa.Column("status", sa.String(16), nullable=False),
            sa.Column("source", sa.String(500), nullable=False),
            sa.Column("updated_at", sa.String(32), nullable=False),
            sa.Column("lon", sa.Float(), nullable=False), sa.Column("lat", sa.Float(), nullable=False),
            sa.Column("orig_lon", sa.Float(), nullable=True), sa.Column("orig_lat", sa.Float(), nullable=True),
            sa.Column("orig_crs", sa.String(8), nullable=False), sa.PrimaryKeyConstraint("id"),
        ], [("ix_stations_type", ["type"]), ("ix_stations_adcode", ["adcode"]), ("ix_stations_status", ["status"])]),
        ("station_history", [
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("station_id", sa.String(64), nullable=False), sa.Column("action", sa.String(16), nullable=False),
            sa.Column("before", sa.Text(), nullable=True), sa.Column("after", sa.Text(), nullable=True),
            sa.Column("user", sa.String(64), nullable=False), sa.Column("at", sa.DateTime(), nullable=False),
            sa.Column("batch", sa.String(40), nullable=False), sa.Column("note", sa.String(500), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        ], [("ix_station_history_station_id", ["station_id"]), ("ix_station_history_batch", ["batch"])]),
        ("users", [
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("username", sa.String(64), nullable=False),
            sa.Column("password_hash", sa.String(256), nullable=False),
            sa.Column("role", sa.String(16), nullable=False), sa.Column("adcode", sa.String(12), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False), sa.Column("active", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("username"),
        ], []),
        ("proposals", [
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("adcode", sa.String(12), nullable=False), sa.Column("name", sa.String(200), nullable=False),
            sa.Column("type", sa.String(32), nullable=False), sa.Column("host", sa.String(100), nullable=False),
            sa.Column("services", sa.String(500), nullable=False), sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("lon", sa.Float(), nullable=False), sa.Column("lat", sa.Float(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("submitted_by", sa.String(64), nullable=False),
            sa.Column("submitted_at", sa.DateTime(), nullable=False),
            sa.Column("reviewed_by", sa.String(64), nullable=False),
            sa.Column("reviewed_at", sa.DateTime(), nullable=True),
            sa.Column("review_comment", sa.Text(), nullable=False), sa.Column("impact", sa.Text(), nullable=False),
            sa.Column("station_id", sa.String(64), nullable=False), sa.PrimaryKeyConstraint("id"),
        ], [("ix_proposals_adcode", ["adcode"]), ("ix_proposals_status", ["status"])]),
        ("proposal_history", [
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("proposal_id", sa.Integer(), nullable=False),
            sa.Column("action", sa.String(16), nullable=False), sa.Column("user", sa.String(64), nullable=False),
            sa.Column("at", sa.DateTime(), nullable=False), sa.Column("note", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        ], [("ix_proposal_history_proposal_id", ["proposal_id"])]),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, indexes in _tables():
        if name in existing:
            continue
        op.create_table(name, *columns)
        for index, cols in indexes:
            op.create_index(index, name, cols)


def downgrade() -> None:
    for name, _, _ in reversed(_tables()):
        op.drop_table(name)
