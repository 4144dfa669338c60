"""The WSGI entry point: ``gunicorn wsgi:app``."""

from dotenv import load_dotenv

from bulksms import create_app
from bulksms.settings import SettingsError

load_dotenv()
try:
    app = create_app()
except SettingsError as exc:
    # One line naming the variable, not a traceback.
    raise SystemExit(f"bulksms: {exc}") from None
