"""Plivo's callbacks: delivery reports and inbound messages.

Nothing is stored before the signature is checked. The signature covers the
public URL Plivo called, which behind a TLS-terminating proxy is not what this
process sees, so the URL is rebuilt from ``API_BASE_URL`` plus the path and the
query exactly as received. These routes are never rate limited, and answer fast:
Plivo retries a callback that gets no 2xx within 8 seconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from flask import Blueprint, Response, current_app, jsonify, request

from bulksms.delivery import MalformedReport, parse_report
from bulksms.errors import InvalidRequest, SignatureMismatch
from bulksms.gateway import (
    SIGNATURE_HEADERS,
    V2_NONCE_HEADER,
    has_signature,
    verified_family,
)
from bulksms.reports import get_reports

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks/plivo")


@bp.post("/delivery-report")
@bp.post("/delivery-report/")
@bp.get("/delivery-report")
@bp.get("/delivery-report/")
def delivery_report() -> Response:
    fields = _verified_fields()
    try:
        report = parse_report(fields)
    except MalformedReport as exc:
        raise InvalidRequest(str(exc)) from None

    outcome = get_reports().record(report, _batch_id())
    return jsonify({"status": outcome.value})


@bp.post("/inbound")
@bp.post("/inbound/")
def inbound() -> Response:
    fields = _verified_fields()
    sender = fields.get("From", "").strip()
    if not sender:
        raise InvalidRequest("From is missing")

    intent = get_reports().inbound(
        sender, fields.get("Text", ""), fields.get("MessageIntent", "")
    )
    return jsonify({"intent": intent.value or None})


def _verified_fields() -> dict[str, str]:
    """The callback's fields, once its signature has been checked."""
    headers = {name: request.headers.get(name, "") for name in SIGNATURE_HEADERS}
    if not has_signature(headers):
        raise InvalidRequest(
            "Plivo signature headers are missing (X-Plivo-Signature-V3 and "
            "X-Plivo-Signature-V3-Nonce, or the V2 pair)"
        )

    settings = current_app.config["BULKSMS_SETTINGS"]
    url = settings.api_base_url + request.path
    query = request.query_string.decode("utf-8", errors="replace")
    if query:
        url += "?" + query

    # For GET the fields are the query, which the URL already carries.
    signed = {} if request.method == "GET" else _form_fields()
    family = verified_family(request.method, url, signed, headers, settings.webhook_key)
    if family is None:
        raise SignatureMismatch("the Plivo signature does not match this request")
    if family == "V2" and not get_reports().claim_nonce(
        headers[V2_NONCE_HEADER], _request_digest(url, signed)
    ):
        raise SignatureMismatch(
            "this V2 signature was already used for a different request"
        )

    params = request.args if request.method == "GET" else request.form
    return {key: params.get(key, "") for key in params}


def _form_fields() -> dict[str, str | list[str]]:
    return {
        key: values[0] if len(values) == 1 else values
        for key, values in request.form.lists()
    }


def _request_digest(url: str, fields: Mapping[str, str | list[str]]) -> str:
    canonical = json.dumps([request.method, url, fields], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _batch_id() -> int | None:
    # Set by the service on each batch's callback URL and covered by the
    # signature; anything else there matches no batch.
    value = request.args.get("batch", "")
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)
