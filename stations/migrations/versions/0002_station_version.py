"""Optimistic concurrency and a location index.

* ``stations.version``: 1 for every existing station, raised by each change; the web API sends it as
  the ``ETag`` and refuses a ``PUT``/``PATCH``/``DELETE`` whose ``If-Match`` names an older one (412).
* ``ix_stations_lat_lon``: a B-tree on (lat, lon) for the bounding-box reads (a station's
  neighbourhood when one station is validated, ``/api/stations?bbox=``).
* ``registry_state``: one row whose ``generation`` every station-changing transaction raises — the
  registry version the web workers poll (on PostgreSQL the last history id is not enough: ids are
  drawn when rows are inserted and may commit out of order).
* PostgreSQL: station ids compare byte-wise (``COLLATE "C"``) so that they sort as on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.create_index("ix_stations_lat_lon", "stations", ["lat", "lon"])
    op.create_table("registry_state",
                    sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False),
                    sa.PrimaryKeyConstraint("id"))
    op.execute("INSERT INTO registry_state (id, generation) SELECT 1, COALESCE(MAX(id), 0) FROM station_history")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("stations", "id", type_=postgresql.VARCHAR(64, collation="C"),
                        existing_type=sa.String(64), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("stations", "id", type_=sa.String(64), existing_type=postgresql.VARCHAR(64, collation="C"),
                        existing_nullable=False)
    op.drop_table("registry_state")
    op.drop_index("ix_stations_lat_lon", table_name="stations")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("version")
