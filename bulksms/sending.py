"""The send API: ``/api/bulk-sms``. Views parse, call the service, render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from bulksms import intake
from bulksms.auth import require_api_key
from bulksms.campaigns import get_campaigns
from bulksms.errors import InvalidRequest, UnsupportedMediaType
from bulksms.states import BatchState

bp = Blueprint("sending", __name__, url_prefix="/api/bulk-sms")

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_PER_PAGE = 1000

ON_THEIR_WAY = {BatchState.PENDING, BatchState.SENDING, BatchState.SUBMITTED}
NOT_SUBMITTED = {BatchState.FAILED, BatchState.UNKNOWN}


@bp.post("")
@require_api_key
def create_campaign() -> tuple[Response, int, dict[str, str]]:
    send_request = _parse_send_request()
    key = request.headers.get(IDEMPOTENCY_HEADER) or None
    if key is not None and len(key) > 255:
        raise InvalidRequest(f"the {IDEMPOTENCY_HEADER} header is over 255 characters")

    campaigns = get_campaigns()
    created = campaigns.create(send_request, idempotency_key=key)
    campaign = campaigns.describe(created.campaign_id)

    if created.gsm_safe is not None:
        campaign["gsm_safe"] = created.gsm_safe.to_dict()
    headers = {"Location": campaign["links"]["self"]}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return jsonify(campaign), _send_status(campaign), headers


@bp.post("/estimate")
@require_api_key
def estimate_campaign() -> Response:
    return jsonify(get_campaigns().estimate(_parse_send_request()))


@bp.get("/<campaign_id>")
@require_api_key
def show_campaign(campaign_id: str) -> Response:
    return jsonify(get_campaigns().describe(campaign_id))


@bp.post("/<campaign_id>/retry")
@require_api_key
def retry_campaign(campaign_id: str) -> tuple[Response, int]:
    include_unknown = _flag("include_unknown")
    campaigns = get_campaigns()
    batches = campaigns.retry(campaign_id, include_unknown=include_unknown)
    return jsonify({"retried_batches": batches, **campaigns.describe(campaign_id)}), 202


@bp.post("/<campaign_id>/cancel")
@require_api_key
def cancel_campaign(campaign_id: str) -> tuple[Response, int]:
    campaigns = get_campaigns()
    batches = campaigns.cancel(campaign_id)
    return jsonify(
        {"cancelled_batches": batches, **campaigns.describe(campaign_id)}
    ), 202


def _flag(name: str) -> bool:
    """A boolean from the query string or a JSON body; both forms are common."""
    value = request.args.get(name)
    if value is None and request.is_json:
        body = request.get_json(silent=True)
        value = body.get(name) if isinstance(body, dict) else None
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise InvalidRequest(f"'{name}' must be true or false")


@bp.get("/<campaign_id>/recipients")
@require_api_key
def list_recipients(campaign_id: str) -> Response:
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise InvalidRequest(
            f"give {', '.join(repeated)} once; several statuses are one "
            "comma-separated value (status=invalid,suppressed)",
            details={"fields": repeated},
        )

    status = request.args.get("status") or None
    page = _positive_int("page", 1, maximum=10**9)
    per_page = _positive_int("per_page", 100, maximum=MAX_PER_PAGE)
    return jsonify(get_campaigns().recipients(campaign_id, status, page, per_page))


def _positive_int(name: str, default: int, *, maximum: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    # str.isdigit() also holds for "²", which int() refuses, and int() refuses
    # more than 4,300 digits: only short ASCII digits reach it.
    plain = value.isascii() and value.isdigit() and len(value) <= len(str(maximum))
    if not plain or not 1 <= int(value) <= maximum:
        raise InvalidRequest(f"'{name}' must be a whole number from 1 to {maximum}")
    return int(value)


def _parse_send_request() -> intake.SendRequest:
    region = current_app.config["BULKSMS_SETTINGS"].default_region

    if request.mimetype == "application/json":
        return intake.from_json(intake.read_json(request.get_data()), region)

    if request.mimetype == "multipart/form-data":
        files = {
            name: [part.stream for part in request.files.getlist(name)]
            for name in request.files
        }
        return intake.from_form(request.form.to_dict(flat=False), files, region)

    raise UnsupportedMediaType(
        "send application/json or multipart/form-data with a CSV file, not "
        f"{request.mimetype or 'a body without a Content-Type'}"
    )


def _send_status(campaign: dict[str, Any]) -> int:
    """202 when no batch failed or was lost, 207 when some were, 502 when no batch
    reached Plivo or is still on its way there.

    Batches still ``pending`` or ``sending`` count as on their way: a replayed
    request for a queued campaign answers as the original request did.
    """
    states = {batch["state"] for batch in campaign["batches"]}
    if not states & NOT_SUBMITTED:
        return 202
    if not states & ON_THEIR_WAY:
        return 502
    return 207
