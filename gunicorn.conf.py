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


def on_starting(server: object) -> None:
    """Check the settings once, in the master, before any worker starts: a bad
    one ends gunicorn with the one line naming it."""
    load_dotenv()
    try:
        load_rates(Settings.load().rates_file)
    except SettingsError as exc:
        sys.exit(f"bulksms: {exc}")
