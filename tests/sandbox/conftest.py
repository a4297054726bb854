"""An authenticated client for the sandbox's own tests (sandboxes come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from tap_marketo_bulk.sandbox import SandboxServer

from .helpers import Client


@pytest.fixture
def client(sb: SandboxServer) -> Client:
    return Client(sb)
