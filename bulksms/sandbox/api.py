"""Plivo's Message API, as the plivo SDK calls it.

The ``answer_lost`` fault drops the TCP connection through the socket that
werkzeug's server hands to the app; under another WSGI server there is no such
socket and the sandbox answers 502 instead.
"""

from __future__ import annotations

import hmac
import logging
import socket
import time
import uuid
from typing import Any

from flask import Blueprint, Response, g, request
from flask.typing import ResponseReturnValue

from .config import Fault, SandboxConfig
from .extension import current_state
from .ledger import MessageRecord, RequestRecord, format_time
from .messages import ApiError, SendRequest, parse_send_request
from .reports import FINAL_STATUSES

logger = logging.getLogger(__name__)

bp = Blueprint("plivo_api", __name__, url_prefix="/v1/Account/<auth_id>")

_REFUSALS = {
    Fault.TOO_MANY_REQUESTS: (429, "too many requests"),
    Fault.TOO_MANY_REQUESTS_NO_RETRY_AFTER: (429, "too many requests"),
    Fault.SERVER_ERROR: (500, "internal server error"),
    Fault.UNAVAILABLE: (503, "service unavailable"),
}


@bp.before_request
def authenticate() -> None:
    g.api_id = str(uuid.uuid4())
    g.received_at = time.time()
    state = current_state()
    config = state.config
    state.pause(config.latency)

    auth_id = (request.view_args or {}).get("auth_id", "")
    credentials = request.authorization
    authenticated = (
        credentials is not None
        and credentials.type == "basic"
        and _same(credentials.username, config.auth_id)
        and _same(credentials.password, config.auth_token)
        and _same(auth_id, config.auth_id)
    )
    if not authenticated:
        raise ApiError(401, "authentication failed")


@bp.after_request
def log_send_request(response: Response) -> Response:
    """Keep every Message API request in the request log, refused ones too."""
    if request.endpoint == "plivo_api.send_message":
        _log_request(response.status_code)
    return response


def _log_request(status: int | None) -> None:
    # Once per request: a dropped answer is logged before the drop, so that no
    # client sees its failure before the log shows it.
    if g.get("request_logged"):
        return

    g.request_logged = True
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        body = request.form.to_dict()
    dst, url = body.get("dst"), body.get("url")
    fault = g.get("fault")
    current_state().requests.record(
        RequestRecord(
            api_id=_api_id(),
            received_at=g.get("received_at") or time.time(),
            status=status,
            fault=str(fault) if fault else None,
            destinations=len(dst.split("<")) if isinstance(dst, str) and dst else 0,
            callback_url=url if isinstance(url, str) else None,
        )
    )


@bp.errorhandler(ApiError)
def render_api_error(error: ApiError) -> ResponseReturnValue:
    body: dict[str, Any] = {"api_id": _api_id(), "error": error.error}
    if error.invalid_number:
        body["invalid_number"] = error.invalid_number

    if request.endpoint == "plivo_api.send_message":
        logger.info(
            "message request %s: refused %d (%s)",
            body["api_id"],
            error.status,
            error.error,
        )

    return body, error.status


@bp.post("/Message/", strict_slashes=False)
def send_message(auth_id: str) -> ResponseReturnValue:
    state = current_state()
    config = state.config
    fault = g.fault = state.draw_fault(config)
    if fault is not None and fault in _REFUSALS:
        return _refuse(fault, config)

    send = parse_send_request(_request_body())
    if _targeted(send, config):
        # The number stays out of the error: callers may log the text.
        raise ApiError(400, "destination number refused (fault_destinations)")

    messages = state.accept(send, config)
    uuids = [message.message_uuid for message in messages]
    if config.shuffle_uuids:
        # Plivo does not promise that message_uuid follows the order of dst.
        uuids = state.shuffled(uuids)

    logger.info(
        "message request %s: %d accepted, %d invalid, fault %s",
        g.api_id,
        len(uuids),
        len(send.invalid_numbers),
        fault or "none",
    )

    answer: dict[str, Any] = {
        "api_id": g.api_id,
        "message": "message(s) queued",
        "message_uuid": uuids,
    }
    if send.invalid_numbers:
        answer["invalid_number"] = list(send.invalid_numbers)

    if fault is Fault.SLOW:
        state.pause(config.slow_seconds)
    elif fault is Fault.ANSWER_LOST:
        return _drop_connection()

    return answer, 202


@bp.get("/Message/<message_uuid>/", strict_slashes=False)
def get_message(auth_id: str, message_uuid: str) -> ResponseReturnValue:
    message = current_state().ledger.message(message_uuid)
    if message is None:
        raise ApiError(404, "not found")

    return _message_details(auth_id, message)


def _refuse(fault: Fault, config: SandboxConfig) -> ResponseReturnValue:
    status, error = _REFUSALS[fault]
    logger.info("message request %s: refused %d, fault %s", g.api_id, status, fault)

    headers = {}
    if fault is Fault.TOO_MANY_REQUESTS:
        headers["Retry-After"] = f"{config.retry_after:g}"

    return {"api_id": g.api_id, "error": error}, status, headers


def _drop_connection() -> ResponseReturnValue:
    connection = request.environ.get("werkzeug.socket")
    if connection is None:
        logger.warning("message request %s: no socket to drop, answering 502", g.api_id)
        return {"api_id": g.api_id, "error": "answer lost"}, 502

    # The client sees the connection close before any byte of an answer;
    # werkzeug then fails to write the response below and lets it go.
    _log_request(None)
    connection.shutdown(socket.SHUT_RDWR)
    return {"api_id": g.api_id, "error": "answer lost"}, 502


def _message_details(auth_id: str, message: MessageRecord) -> dict[str, Any]:
    state = message.state_at(time.time())
    failed = state in FINAL_STATUSES and message.error_code is not None
    return {
        "api_id": _api_id(),
        "message_uuid": message.message_uuid,
        "message_direction": "outbound",
        "message_state": state,
        "message_type": "sms",
        "message_time": format_time(message.created_at),
        "from_number": message.from_number,
        "to_number": message.to_number,
        "error_code": str(message.error_code) if failed else "000",
        "units": message.units,
        "total_rate": message.total_rate,
        "total_amount": message.total_amount,
        "powerpack_id": message.powerpack_uuid,
        "resource_uri": f"/v1/Account/{auth_id}/Message/{message.message_uuid}/",
    }


def _targeted(send: SendRequest, config: SandboxConfig) -> bool:
    """Whether ``send`` holds a number the ``fault_destinations`` knob refuses."""
    targeted = {number.removeprefix("+") for number in config.fault_destinations}
    return not targeted.isdisjoint(send.destinations)


def _request_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        # curl users send forms; the SDK always sends JSON.
        return request.form.to_dict()

    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")

    return body


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode("utf-8"), expected.encode("utf-8")
    )


def _api_id() -> str:
    api_id: str = g.get("api_id") or str(uuid.uuid4())
    return api_id
