"""驿站通 (yizhan): service-station locator and coverage analyzer for trade-union rest stations.

The repository root is the ``yizhan`` package (see pyproject ``package-dir``) so that the
``coverage/`` folder is imported as ``yizhan.coverage`` and never shadows coverage.py.
"""

__version__ = "0.2.0"
