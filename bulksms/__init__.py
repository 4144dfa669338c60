"""bulksms: send one SMS text to very large recipient lists through Plivo."""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from typing import Any

from flask import Flask

from bulksms import (
    campaigns,
    http,
    limits,
    logs,
    queue,
    reports,
    sending,
    store,
    webhooks,
)
from bulksms.dispatch import Dispatcher
from bulksms.gateway import PlivoGateway
from bulksms.operations import bp as operations_bp
from bulksms.pacing import Pacer
from bulksms.rates import DEFAULT_RATES_FILE, RateTable
from bulksms.settings import RATES_FILE, Settings, SettingsError

DISPATCHER = "bulksms.dispatcher"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment; ``config`` overrides variables by
    name, for tests and embedding. Nothing here sends, and no thread starts
    before the first campaign. ``.env`` is read by the entry points (``wsgi.py``
    and the CLI), not here, so tests see only what they set."""
    settings = Settings.load(config)
    logs.configure(settings.log_format, settings.log_level)

    app = Flask(__name__, instance_relative_config=True)
    app.config["BULKSMS_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    rates = load_rates(settings.rates_file)
    ledger_store = store.init_app(app, settings.database_url)
    gateway = PlivoGateway(
        settings.plivo_auth_id,
        settings.plivo_auth_token,
        timeout=settings.plivo_timeout,
        api_url=settings.plivo_api_url,
    )
    pacer = Pacer(
        settings.limits_storage_uri,
        api_rps=settings.plivo_api_rps,
        account_mps=settings.plivo_account_mps,
    )
    dispatcher = Dispatcher(
        ledger_store,
        gateway,
        pacer,
        report_url=settings.delivery_report_url,
        concurrency=settings.send_concurrency,
    )
    campaign_queue = queue.make_queue(
        settings.redis_url, ledger_store.queue_path(app), dispatcher
    )
    queue.init_app(app, campaign_queue)
    campaigns.init_app(
        app,
        campaigns.CampaignService(
            ledger_store, dispatcher, campaign_queue, rates, settings
        ),
    )
    reports.init_app(app, reports.ReportService(ledger_store))
    app.extensions[DISPATCHER] = dispatcher
    atexit.register(close_app, app)

    http.init_app(app)
    limits.init_app(app, settings, sending.bp)
    app.register_blueprint(sending.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(operations_bp)
    return app


def load_rates(path: str | None) -> RateTable:
    try:
        return RateTable.load(path or DEFAULT_RATES_FILE)
    except ValueError as exc:
        raise SettingsError(f"{RATES_FILE}: {exc}") from None


def close_app(app: Flask) -> None:
    """Stop the app's sending threads and close its database connections; for
    tests and embedding apps that build many apps in one process."""
    atexit.unregister(close_app)
    app.extensions[DISPATCHER].close()
    app.extensions[store.EXTENSION].dispose()
