"""Running the sandbox on a real port, in a background thread."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_sandbox_app
from .config import SandboxConfig
from .extension import state_of

logger = logging.getLogger(__name__)

# How often the serving loop checks for a stop request, in seconds.
_POLL_INTERVAL = 0.05

# Wildcard addresses are not ones a client can call; loopback reaches them.
_CALLABLE_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip werkzeug's access line: the sandbox logs each API request itself."""


class SandboxServer:
    """A sandbox served by werkzeug's threaded server in a background thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``port=0``
    picks a free port; read the result from :attr:`url`.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.app = create_sandbox_app(config)
        self.host = host
        self._port = port
        self._state = state_of(self.app)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> SandboxServer:
        """Listen and serve; returns once the port accepts connections."""
        if self._server is not None or self._stopped:
            # Its report workers are gone for good once stopped.
            raise RuntimeError("a sandbox server starts once")

        server = make_server(
            self.host,
            self._port,
            self.app,
            threaded=True,
            request_handler=_QuietRequestHandler,
        )
        self._server = server
        self._port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name="sandbox-server",
            daemon=True,
        )
        self._thread.start()
        logger.debug("sandbox listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, wake paused requests and stop the report workers."""
        self._stopped = True
        self._state.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

        if self._thread is not None:
            self._thread.join()

        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = _CALLABLE_HOSTS.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"

        return f"http://{host}:{self._port}"

    @property
    def api_base_uri(self) -> str:
        """The value for ``plivo.rest.client.PLIVO_API_BASE_URI``."""
        return f"{self.url}/v1/Account"

    def destinations(self) -> dict[str, int]:
        return self._state.ledger.destinations()

    def outcomes(self) -> dict[str, dict[str, Any]]:
        return self._state.ledger.outcomes()

    def requests(self) -> list[dict[str, Any]]:
        """Every Message API request and its answer, as ``GET /sandbox/requests``."""
        return self._state.requests.entries()

    def report_stats(self) -> dict[str, int]:
        return self._state.reports.stats()

    def reset(self) -> None:
        self._state.reset()

    def set_faults(self, **fields: Any) -> SandboxConfig:
        """Change settings while running; raises SandboxConfigError."""
        return self._state.set_faults(fields)

    @property
    def config(self) -> SandboxConfig:
        return self._state.config

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
