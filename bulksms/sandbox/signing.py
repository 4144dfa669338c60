"""Plivo's callback signatures, V3 and V2, computed as Plivo's SDK checks them.

The canonical strings follow ``plivo.utils.signature_v3`` and
``plivo.utils.validate_signature`` (SDK 4.63.0) step by step, so that a receiver
validating with the SDK accepts what the sandbox sends. One exception: the SDK
cannot parse a query with percent-encoded non-ASCII bytes (it raises), so there the
sandbox decodes the query as UTF-8, which is the only reading left.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs, urlparse, urlunparse

_NONCE_DIGITS = 20


def new_nonce() -> str:
    """A random decimal nonce, the shape Plivo's look like."""
    return str(secrets.randbelow(10**_NONCE_DIGITS)).zfill(_NONCE_DIGITS)


def signature_headers(
    url: str,
    method: str,
    params: Mapping[str, str],
    auth_token: str,
    main_token: str,
) -> dict[str, str]:
    """Both signature families for one callback, keyed by header name.

    ``url`` is the callback URL exactly as given at send time; ``params`` are the
    report fields, sent as the form body (POST) or added to the query (GET).
    """
    v3_nonce, v2_nonce = new_nonce(), new_nonce()
    return {
        "X-Plivo-Signature-V3": sign_v3(method, url, params, v3_nonce, auth_token),
        "X-Plivo-Signature-Ma-V3": sign_v3(method, url, params, v3_nonce, main_token),
        "X-Plivo-Signature-V3-Nonce": v3_nonce,
        "X-Plivo-Signature-V2": sign_v2(url, v2_nonce, auth_token),
        "X-Plivo-Signature-Ma-V2": sign_v2(url, v2_nonce, main_token),
        "X-Plivo-Signature-V2-Nonce": v2_nonce,
    }


def sign_v3(
    method: str, url: str, params: Mapping[str, str], nonce: str, token: str
) -> str:
    """``X-Plivo-Signature-V3`` for a callback of ``method`` to ``url``."""
    if method.upper() == "GET":
        canonical = _get_canonical(url, params)
    else:
        canonical = _post_canonical(url, params)

    return _hmac_base64(token, f"{canonical}.{nonce}")


def sign_v2(url: str, nonce: str, token: str) -> str:
    """``X-Plivo-Signature-V2``: the URL without its query, then the nonce."""
    return _hmac_base64(token, _strip_query(url) + nonce)


def _get_canonical(url: str, params: Mapping[str, str]) -> str:
    # Report fields and the URL's own query end up in one query string; a key
    # present in both takes the URL's values, as in the SDK.
    merged: dict[str, str | list[str]] = dict(params)
    merged.update(_query_map(url))
    query = _sorted_query(merged)
    if not query:
        return _strip_query(url)

    return f"{_strip_query(url)}?{query}"


def _post_canonical(url: str, params: Mapping[str, str]) -> str:
    query = _sorted_query(dict(_query_map(url)))
    base = _strip_query(url)
    if params:
        base += f"?{query}"
        if query:
            base += "."
    elif query:
        base += f"?{query}"

    body = "".join(f"{key}{params[key]}" for key in sorted(params))
    return base + body


def _strip_query(url: str) -> str:
    parts = urlparse(url)
    return urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))


def _query_map(url: str) -> dict[str, list[str]]:
    query = urlparse(url).query
    return parse_qs(query, keep_blank_values=True)


def _sorted_query(params: Mapping[str, str | list[str]]) -> str:
    pairs = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            pairs.append("&".join(f"{key}={item}" for item in sorted(value)))
        else:
            pairs.append(f"{key}={value}")

    return "&".join(pairs)


def _hmac_base64(token: str, message: str) -> str:
    digest = hmac.new(
        token.encode("utf-8"), message.encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")
