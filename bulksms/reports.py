"""The delivery-report and inbound-message service behind the webhooks."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from bulksms import ledger, suppressions
from bulksms.delivery import OPTED_OUT_ERROR, DeliveryReport
from bulksms.ledger import ReportOutcome
from bulksms.recipients import InvalidNumber, mask, normalise
from bulksms.store import Store
from bulksms.suppressions import Intent

log = logging.getLogger(__name__)

EXTENSION = "bulksms.reports"


class ReportService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, report: DeliveryReport, batch_id: int | None) -> ReportOutcome:
        """Store one delivery report and apply it; safe to repeat."""
        with self._store.session() as session:
            outcome = ledger.record_report(session, report, batch_id)
            opted_out = report.error_code == OPTED_OUT_ERROR and report.destination
            if opted_out and outcome is not ReportOutcome.DUPLICATE:
                suppressions.suppress(
                    session,
                    report.destination,  # type: ignore[arg-type]
                    reason="Plivo error 200: the recipient opted out",
                    source="delivery_report",
                )

        if outcome in (ReportOutcome.UNMATCHED, ReportOutcome.UNKNOWN_STATUS):
            # Late, foreign or new to us: kept, and normal enough for INFO.
            log.info(
                "delivery report %s (%s): %s",
                report.message_uuid,
                report.plivo_status,
                outcome.value,
            )
        else:
            log.debug("delivery report %s: %s", report.message_uuid, outcome.value)
        return outcome

    def claim_nonce(self, nonce: str, digest: str) -> bool:
        """Bind a V2 nonce to the request it first came with; False when it
        already vouched for a different one."""
        with self._store.session() as session:
            return ledger.claim_nonce(session, nonce[:64], digest)

    def inbound(self, sender: str, text: str, plivo_intent: str) -> Intent:
        """Update the suppression list from an inbound message."""
        intent = suppressions.intent_of(text, plivo_intent)
        if intent is Intent.NONE:
            return intent

        try:
            e164 = normalise(sender if sender.startswith("+") else f"+{sender}", "US")
        except InvalidNumber:
            log.info("inbound %s from an unreadable number: ignored", intent.value)
            return Intent.NONE

        with self._store.session() as session:
            if intent is Intent.OPT_OUT:
                suppressions.suppress(
                    session,
                    e164,
                    reason="replied with an opt-out keyword",
                    source="inbound",
                )
            else:
                suppressions.unsuppress(session, e164)
        log.info("inbound %s from %s", intent.value, mask(e164))
        return intent


def init_app(app: Flask, service: ReportService) -> None:
    app.extensions[EXTENSION] = service


def get_reports() -> ReportService:
    service: ReportService = current_app.extensions[EXTENSION]
    return service
