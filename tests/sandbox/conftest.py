"""Shared fixtures: fast sandboxes on port 0, always stopped, and an authenticated client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tap_marketo_bulk.sandbox import SandboxOptions, SandboxServer

from .helpers import FAST, Client


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Factory: make_sandbox(**option overrides) -> started server; all stopped at teardown."""
    started: list[SandboxServer] = []

    def _make(**overrides: Any) -> SandboxServer:
        kw = {**FAST, **overrides}
        sb = SandboxServer(SandboxOptions(**kw))
        sb.start()
        started.append(sb)
        return sb

    try:
        yield _make
    finally:
        for sb in started:
            sb.stop()


@pytest.fixture
def sb(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return make_sandbox()


@pytest.fixture
def client(sb: SandboxServer) -> Client:
    return Client(sb)
