"""Fixtures: a catalog discovered once (sandboxes come from tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tap_marketo_bulk.sandbox import SandboxOptions, SandboxServer

from ..support import FAST
from .helpers import base_config, discover, select


@pytest.fixture(scope="session")
def full_catalog() -> dict[str, Any]:
    """Discovered once: the catalog depends on the describe data only (same seed every test)."""
    sandbox = SandboxServer(SandboxOptions(**FAST)).start()
    try:
        return discover(base_config(sandbox))
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def leads_catalog(full_catalog: dict[str, Any]) -> dict[str, Any]:
    return select(full_catalog, {"leads"})
