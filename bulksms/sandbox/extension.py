"""Where a sandbox app keeps its state, and how views reach it."""

from __future__ import annotations

from flask import Flask, current_app

from .state import SandboxState

EXTENSION_KEY = "bulksms_sandbox"


def state_of(app: Flask) -> SandboxState:
    state: SandboxState = app.extensions[EXTENSION_KEY]
    return state


def current_state() -> SandboxState:
    return state_of(current_app)
