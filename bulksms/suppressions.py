"""The suppression list: numbers that must not be sent to.

On US and Canadian long codes and toll-free numbers Plivo enforces STOP itself;
for short codes and other countries the sender must keep this list. A number
joins it by an inbound STOP-type keyword, Plivo's ``optout`` intent, or a
delivery report with error 200; it leaves by START-type keywords or ``optin``.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bulksms.models import Suppression, utcnow

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "END", "QUIT", "CANCEL", "UNSUBSCRIBE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})


class Intent(StrEnum):
    OPT_OUT = "optout"
    OPT_IN = "optin"
    NONE = ""


def intent_of(text: str, plivo_intent: str = "") -> Intent:
    """What an inbound message asks for. Keywords count only as the whole
    message, in any case: "please stop by" is not an opt-out."""
    given = plivo_intent.strip().lower()
    if given in (Intent.OPT_OUT, Intent.OPT_IN):
        return Intent(given)

    word = text.strip().strip(".!").upper()
    if word in OPT_OUT_KEYWORDS:
        return Intent.OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return Intent.OPT_IN
    return Intent.NONE


def suppress(session: Session, e164: str, *, reason: str, source: str) -> None:
    """Add a number to the list; repeating it keeps the first record."""
    insert = (
        postgresql_insert
        if session.get_bind().dialect.name == "postgresql"
        else sqlite_insert
    )
    session.execute(
        insert(Suppression)
        .values(e164=e164, reason=reason, source=source, since=utcnow())
        .on_conflict_do_nothing()
    )


def unsuppress(session: Session, e164: str) -> bool:
    removed = session.execute(delete(Suppression).where(Suppression.e164 == e164))
    return bool(removed.rowcount)  # type: ignore[attr-defined]
