"""Local Marketo-compatible sandbox server (REST, asset and bulk extract APIs) for tests and demos."""

from .app import SandboxServer
from .data import SandboxData
from .server import SandboxOptions

__all__ = ["SandboxData", "SandboxOptions", "SandboxServer", "main"]


def main(argv: list[str] | None = None) -> int:
    """Console script entry point ``tap-marketo-bulk-sandbox`` (see ``cli.py``)."""
    from .cli import main as _main

    return _main(argv)
