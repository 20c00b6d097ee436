"""Stations waiting for a location (issue 12).

* ``stations.lon``/``lat`` may be NULL: a station imported with a name and address but no
  coordinates has the status 待定位 until it is geocoded or placed on the map.
* ``stations.precision``: how exactly the location is known (door, poi, road, district, manual;
  empty for coordinates given in the imported file).
* ``stations.located_status``: the status a waiting station takes once located.
* ``stations.candidate``: a geocoder's answer (JSON) waiting for a person to accept or reject.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.alter_column("lon", existing_type=sa.Float(), nullable=True)
        batch.alter_column("lat", existing_type=sa.Float(), nullable=True)
        batch.add_column(sa.Column("precision", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("located_status", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("candidate", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    # stations still waiting have no location: they cannot exist in the older schema
    op.execute("DELETE FROM stations WHERE lon IS NULL OR lat IS NULL")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("candidate")
        batch.drop_column("located_status")
        batch.drop_column("precision")
        batch.alter_column("lon", existing_type=sa.Float(), nullable=False)
        batch.alter_column("lat", existing_type=sa.Float(), nullable=False)
