"""The ceiling of the stack for the load test: a bare Flask endpoint doing only the KD-tree query.

Served by the same gunicorn configuration as yizhan; it loads the stations the load script wrote
(``BARE_STATIONS`` = a .npy file of lon/lat) and answers ``/q?lon=&lat=`` with the 5 nearest
indices and chord distances, nothing else.
"""

from __future__ import annotations

import os

import numpy as np
from flask import Flask, jsonify, request
from scipy.spatial import cKDTree

app = Flask(__name__)
_xy = np.load(os.environ["BARE_STATIONS"])
_lo, _la = np.radians(_xy[:, 0]), np.radians(_xy[:, 1])
_tree = cKDTree(np.column_stack([np.cos(_la) * np.cos(_lo), np.cos(_la) * np.sin(_lo), np.sin(_la)]))


@app.route("/q")
def q():  # noqa: ANN201
    lo, la = np.radians(float(request.args["lon"])), np.radians(float(request.args["lat"]))
    d, i = _tree.query([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], k=5)
    return jsonify({"i": i.tolist(), "d": d.tolist()})
