"""HTML pages (blueprint ``pages``): planner map ``/``, rider page ``/nearest``, proposals ``/proposals``."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..stations import model
from .services import services

bp = Blueprint("pages", __name__)


@bp.route("/")
def index():  # noqa: ANN201
    """Planner map."""
    return render_template("index.html", types=model.STATION_TYPES, groups=model.GROUPS,
                           count=services().registry.count())
