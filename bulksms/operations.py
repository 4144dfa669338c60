"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from bulksms.store import get_store

log = logging.getLogger(__name__)

bp = Blueprint("operations", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    try:
        with get_store().session() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        log.exception("readiness: the store is unreachable")
        return jsonify({"status": "unavailable", "store": "unreachable"}), 503
    return jsonify({"status": "ok", "store": "ok"}), 200
