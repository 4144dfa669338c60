"""The WSGI entry point: ``gunicorn wsgi:app``."""

import sys

from dotenv import load_dotenv

from bulksms import create_app
from bulksms.settings import SettingsError

# gunicorn's "worker failed to boot": the master stops instead of starting the
# worker again and again.
WORKER_BOOT_ERROR = 3

load_dotenv()
try:
    app = create_app()
except SettingsError as exc:
    # One line naming the variable, not a traceback.
    print(f"bulksms: {exc}", file=sys.stderr)
    raise SystemExit(WORKER_BOOT_ERROR) from None
