"""A Plivo-compatible Message API server for the demo, the tests and benchmarks.

Point the plivo SDK at it with ``plivo.rest.client.PLIVO_API_BASE_URI =
server.api_base_uri``. It answers with Plivo's auth, shapes and errors, posts
signed delivery reports to each request's ``url``, records every destination it
accepted, and shows configurable latency, outcome mix and faults.
"""

from .app import create_sandbox_app
from .config import SandboxConfig, SandboxConfigError
from .server import SandboxServer

__all__ = ["SandboxConfig", "SandboxConfigError", "SandboxServer", "create_sandbox_app"]
