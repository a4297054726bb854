"""Fixtures every suite shares: sandboxes on port 0 with instant jobs, always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tap_marketo_bulk.sandbox import SandboxOptions, SandboxServer

from .support import FAST


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Factory: ``make_sandbox(**option overrides)`` -> a started server; all stopped at teardown."""
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
    """A sandbox with the default options and instant job processing."""
    return make_sandbox()
