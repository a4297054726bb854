"""The command's start-up: singer-sdk imported without the garbage collector's passes."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import gc, json, sys
passes = []
gc.callbacks.append(lambda phase, info: passes.append(info["generation"]) if phase == "start" else None)
from tap_marketo_bulk import cli
before = len(passes)
if sys.argv[1] == "command":
    name = cli.import_tap().__name__
else:
    import tap_marketo_bulk.tap as module
    name = module.__name__
during = len(passes) - before
print(json.dumps({"module": name, "passes": during, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def start(how: str) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, how], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_tap_is_imported_without_collector_passes_and_its_objects_frozen():
    plain = start("plain")
    assert plain["module"] == "tap_marketo_bulk.tap"
    assert plain["passes"] > 50  # what the command avoids: about 130 passes over the imports
    assert plain["frozen"] == 0
    command = start("command")
    assert command == {
        "module": "tap_marketo_bulk.tap",
        "passes": 0,
        "enabled": True,  # on again for the run itself
        "frozen": command["frozen"],
    }
    assert command["frozen"] > 30_000
