"""The private singer-sdk names the tap uses exist in the installed SDK, and none is unlisted."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from singer_sdk import Stream, Tap
from singer_sdk.streams._state import StreamStateManager

from tap_marketo_bulk.sdk_private import PRIVATE_SDK_NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "tap_marketo_bulk"
OWNERS = {"Tap": Tap, "Stream": Stream}


def _exists(name: str) -> bool:
    owner, _, attribute = name.rpartition(".")
    if owner in OWNERS:
        return hasattr(OWNERS[owner], attribute)
    if owner == "StateManager":  # an instance attribute, set in __init__
        return f"self.{attribute} =" in inspect.getsource(StreamStateManager)
    return hasattr(importlib.import_module(owner), attribute)


def test_every_listed_name_exists_in_the_installed_sdk():
    assert [name for name in PRIVATE_SDK_NAMES if not _exists(name)] == []


def _private_names_used() -> set[str]:
    """Private SDK attributes and modules the package's code touches."""
    sdk_private = {
        name for cls in OWNERS.values() for name in dir(cls) if name.startswith("_") and not name.startswith("__")
    }
    used: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in sdk_private:
                used.add(node.attr)
            if isinstance(node, ast.ClassDef):  # overrides
                used.update(f.name for f in node.body if isinstance(f, ast.FunctionDef) and f.name in sdk_private)
            if isinstance(node, ast.Attribute) and node.attr == "is_flushed":
                used.add("is_flushed")
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("singer_sdk") and any(part.startswith("_") for part in module.split(".")):
                used.update(f"{node.module}.{alias.name}" for alias in node.names)
    return used


def test_the_package_uses_no_unlisted_private_sdk_name():
    listed = {name.rpartition(".")[2] for name in PRIVATE_SDK_NAMES} | set(PRIVATE_SDK_NAMES)
    assert sorted(_private_names_used() - listed) == []
