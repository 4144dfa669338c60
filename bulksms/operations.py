"""Liveness and readiness for load balancers and orchestrators.

Ready means every backing service a send needs answers: the store, the queue,
and the rate-limit counters (Redis when ``REDIS_URL`` is set). Readiness names
each one, so a 503 says which is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from bulksms import limits
from bulksms.errors import QueueUnavailable
from bulksms.queue import get_queue
from bulksms.store import get_store

log = logging.getLogger(__name__)

bp = Blueprint("operations", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, Callable[[], bool]] = {
        "store": _store_answers,
        "queue": _queue_answers,
        "rate_limits": _rate_limits_answer,
    }
    services = {
        name: "ok" if answers() else "unreachable" for name, answers in checks.items()
    }

    if all(state == "ok" for state in services.values()):
        return jsonify({"status": "ok", **services}), 200
    return jsonify({"status": "unavailable", **services}), 503


def _store_answers() -> bool:
    try:
        with get_store().session() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        log.exception("readiness: the store is unreachable")
        return False
    return True


def _queue_answers() -> bool:
    try:
        get_queue().check()
    except QueueUnavailable as exc:
        log.warning("readiness: the queue is unreachable: %s", exc.message)
        return False
    return True


def _rate_limits_answer() -> bool:
    # The storage's own health check, which Flask-Limiter also uses to notice
    # that Redis is back.
    if current_app.extensions[limits.EXTENSION].storage.check():
        return True
    log.warning("readiness: the rate-limit storage is unreachable")
    return False
