"""The sandbox's Flask app: Plivo's Message API plus a control API."""

from __future__ import annotations

import uuid

from flask import Flask
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from . import api, control
from .config import SandboxConfig
from .extension import EXTENSION_KEY
from .state import SandboxState


def create_sandbox_app(config: SandboxConfig | None = None) -> Flask:
    """Wire a sandbox app. No thread starts until a report is queued."""
    app = Flask(__name__)
    app.extensions[EXTENSION_KEY] = SandboxState(config or SandboxConfig())
    app.register_blueprint(api.bp)
    app.register_blueprint(control.bp)
    app.register_error_handler(HTTPException, render_http_error)
    return app


def render_http_error(error: HTTPException) -> ResponseReturnValue:
    """Every HTTP error in Plivo's JSON shape, which the SDK reads."""
    body = {"api_id": str(uuid.uuid4()), "error": error.description}
    return body, error.code or 500
