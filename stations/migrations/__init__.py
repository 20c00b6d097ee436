"""Alembic schema migrations of the registry database (see :mod:`yizhan.stations.migrate`)."""
