"""Fixtures: an in-thread sandbox per test (always stopped) and a catalog selecting leads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tap_marketo_bulk.sandbox import SandboxOptions, SandboxServer

from .helpers import FAST, base_config, discover, select


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def _make(**overrides: Any) -> SandboxServer:
        sb = SandboxServer(SandboxOptions(**{**FAST, **overrides}))
        started.append(sb)
        sb.start()
        return sb

    try:
        yield _make
    finally:
        for sb in started:
            sb.stop()


@pytest.fixture
def sb(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return make_sandbox()


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
