"""The sandbox's own control API, outside Plivo's paths and without auth."""

from __future__ import annotations

import logging

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from .config import SandboxConfigError
from .extension import current_state

logger = logging.getLogger(__name__)

bp = Blueprint("sandbox_control", __name__, url_prefix="/sandbox")


@bp.get("/destinations")
def destinations() -> ResponseReturnValue:
    return current_state().ledger.destinations()


@bp.get("/outcomes")
def outcomes() -> ResponseReturnValue:
    return current_state().ledger.outcomes()


@bp.get("/requests")
def message_requests() -> ResponseReturnValue:
    """Every Message API request in arrival order: ``api_id``, ``received_at``
    (Unix time), ``status`` (None when the answer was dropped), ``fault``,
    ``destinations`` (entries of ``dst``) and ``callback_url``."""
    return current_state().requests.entries()


@bp.get("/faults")
def settings() -> ResponseReturnValue:
    return current_state().config.public_settings()


@bp.post("/faults")
def change_settings() -> ResponseReturnValue:
    """Change any setting but identity, seed and workers: a JSON object of
    ``SandboxConfig`` fields. Fault shares (``fault_500`` ...) pick requests at
    random; ``fault_destinations``, a list of E.164 numbers, refuses with 400
    every request whose ``dst`` holds one of them, so one chosen batch fails."""
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict):
        return {"error": "body must be a JSON object of settings"}, 400

    try:
        config = current_state().set_faults(changes)
    except SandboxConfigError as exc:
        return {"error": str(exc)}, 400

    logger.info("settings changed: %s", ", ".join(sorted(changes)))
    return config.public_settings()


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    dropped = current_state().reset()
    logger.info("reset: records cleared, %d waiting reports dropped", dropped)
    return {"reports_dropped": dropped}


@bp.get("/reports")
def report_stats() -> ResponseReturnValue:
    return current_state().reports.stats()
