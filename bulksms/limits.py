"""Rate limits on the send API, keyed by API key (flask-limiter).

Storage is in memory for one process, or Redis when ``REDIS_URL`` is set so that
every web process shares one count. Webhook routes carry no limit: Plivo must
never be turned away.

While Redis is down, each process counts in its own memory instead
(flask-limiter's in-memory fallback, which logs a WARNING when it falls back and
goes back to Redis once it answers again): the limit then holds per process, so
across N processes a key may send up to N times its budget. Swallowing the error
would drop the limit altogether, and raising it would answer 500 to every send.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from bulksms.auth import API_KEY_HEADER, key_id
from bulksms.settings import Settings

EXTENSION = "bulksms.limiter"


def _client_key() -> str:
    given = request.headers.get(API_KEY_HEADER)
    return f"key:{key_id(given)}" if given else f"ip:{get_remote_address()}"


def _retry_after_only_when_refused(response: Response) -> Response:
    # flask-limiter adds Retry-After to every response; on anything but a 429
    # it would tell clients to wait for nothing.
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask, settings: Settings, limited: Blueprint) -> Limiter:
    limiter = Limiter(
        key_func=_client_key,
        storage_uri=settings.limits_storage_uri,
        in_memory_fallback_enabled=True,
        default_limits=[],
        headers_enabled=True,
        strategy="moving-window",
    )
    # One budget per API key for the whole send API, not one per route. Only
    # writes (send, estimate, retry, cancel) draw on it: polling a campaign's
    # progress must not use up the budget for sending.
    limiter.shared_limit(settings.send_rate_limit, scope="send-api", methods=["POST"])(
        limited
    )
    # Registered first so that it runs after the limiter's own header hook.
    app.after_request(_retry_after_only_when_refused)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    return limiter
