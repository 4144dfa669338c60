"""gunicorn's settings for ``gunicorn wsgi:app``, read from the working directory.

Threads rather than many processes: a send request spends its time waiting on
Plivo, and each process keeps its own thread pool, database pool and pacing
counters (shared only through Redis).
"""

import os
import sys

from dotenv import load_dotenv

from bulksms import load_rates
from bulksms.settings import Settings, SettingsError

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 8
# A synchronous send of BULK_SYNC_LIMIT recipients waits on several Plivo calls.
timeout = 120
# gunicorn's control socket (for gunicornc) defaults to one path per user, shared
# by every gunicorn that user runs: each instance that starts takes it over from
# the last, and each that stops deletes it, whoever holds it. Nothing here uses
# it; the platform steers gunicorn with signals.
control_socket_disable = True


def on_starting(server: object) -> None:
    """Check the settings once, in the master, before any worker starts: a bad
    one ends gunicorn with the one line naming it."""
    load_dotenv()
    try:
        load_rates(Settings.load().rates_file)
    except SettingsError as exc:
        sys.exit(f"bulksms: {exc}")
