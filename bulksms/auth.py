"""API keys for the send API: several may be valid at once, for rotation."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import current_app, g, request

from bulksms.errors import Unauthorized

API_KEY_HEADER = "X-API-Key"

P = ParamSpec("P")
R = TypeVar("R")


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Compare against every key in constant time, without stopping at a match,
    so timing tells nothing about which key or how much of it matched."""
    given_bytes = given.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given_bytes, key.encode())
    return matched


def require_api_key(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        given = request.headers.get(API_KEY_HEADER, "")
        if not given:
            raise Unauthorized(f"the {API_KEY_HEADER} header is required")
        if not key_matches(given, current_app.config["BULKSMS_SETTINGS"].api_keys):
            raise Unauthorized(f"the {API_KEY_HEADER} header holds no valid key")
        g.api_key_id = key_id(given)
        return view(*args, **kwargs)

    return checked


def key_id(key: str) -> str:
    """A stable, non-secret name for a key: used for rate limits and logs."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]
