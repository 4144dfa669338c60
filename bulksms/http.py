"""HTTP plumbing shared by the blueprints: one JSON error shape, request ids."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from bulksms.errors import BulkSmsError

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"

# A caller's request id is echoed only when it is short and plain, so it cannot
# smuggle anything into logs or headers.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def error_response(
    status: int, code: str, message: str, details: object = None
) -> tuple[Response, int]:
    body = {"error": {"code": code, "message": message, "details": details}}
    return jsonify(body), status


def _domain_error(exc: BulkSmsError) -> tuple[Response, int]:
    if exc.status >= 500:
        log.warning("answered %d %s: %s", exc.status, exc.code, exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.details)


def _http_error(exc: HTTPException) -> tuple[Response, int] | HTTPException:
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    response, status = error_response(status, code, exc.description or exc.name)
    for name, value in exc.get_headers() or []:
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response, status


def _assign_request_id() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(BulkSmsError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
