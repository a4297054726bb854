"""Unknown settings through Meltano: what `meltano invoke` writes to the tap's config file is
never warned about, and a misspelt setting is named with the closest known one (issue 21).

Meltano writes every setting that has a value (declared in meltano.yml, or any other key in the
plugin's ``config``) into a config file for the tap; the tap checks its keys against its whole
settings schema, the SDK's own settings included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .helpers import TAP

REPO = Path(__file__).resolve().parents[2]
MELTANO = Path(sys.executable).parent / "meltano"
UNKNOWN = "Unknown settings, ignored:"


def write_project(project: Path, config: dict[str, Any]) -> None:
    """The repo's extractor definition, run from this environment's tap, with ``config`` only."""
    definition = yaml.safe_load((REPO / "meltano.yml").read_text())
    extractor = next(p for p in definition["plugins"]["extractors"] if p["name"] == "tap-marketo-bulk")
    extractor.pop("pip_url", None)
    extractor.pop("select", None)
    extractor["executable"] = str(TAP)
    extractor["config"] = config
    project.mkdir(parents=True, exist_ok=True)
    (project / "meltano.yml").write_text(
        yaml.safe_dump(
            {"project_id": "tap-marketo-bulk-settings-test", "plugins": {"extractors": [extractor]}}, sort_keys=False
        )
    )


def meltano_discover(project: Path, sb: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_MARKETO_BULK_", "MELTANO_"))}
    env.update(
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_DATABASE_URI=f"sqlite:///{project / 'meltano.db'}",
        TAP_MARKETO_BULK_BASE_URL=sb.url,
        TAP_MARKETO_BULK_CLIENT_SECRET=sb.options.client_secret,
    )
    command = [str(MELTANO), "invoke", "tap-marketo-bulk", "--discover"]
    run = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    assert json.loads(run.stdout)["streams"]
    return run


def test_every_setting_meltano_declares_is_a_setting_of_the_tap():
    about = subprocess.run([str(TAP), "--about", "--format", "json"], capture_output=True, text=True, check=True)
    known = set(json.loads(about.stdout)["settings"]["properties"])
    definition = yaml.safe_load((REPO / "meltano.yml").read_text())
    extractor = next(p for p in definition["plugins"]["extractors"] if p["name"] == "tap-marketo-bulk")
    declared = {setting["name"] for setting in extractor["settings"]}
    assert declared - known == set()


def test_meltano_invoke_passes_no_unknown_setting_and_names_a_misspelt_one(sb, tmp_path):
    config = {
        "client_id": sb.options.client_id,
        "start_date": "2024-01-01T00:00:00Z",
        "end_date": "2024-04-01T00:00:00Z",
        "poll_interval_seconds": 1,
        "window_days": 31,
        "batch_config": {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": "file:///tmp"}},
        "stream_maps": {"leads": {"__alias__": "marketo_leads"}},
        "flattening_enabled": False,
    }
    project = tmp_path / "project"
    write_project(project, config)
    run = meltano_discover(project, sb)
    assert UNKNOWN not in run.stderr, run.stderr

    write_project(project, {**config, "window_dayz": 7})
    run = meltano_discover(project, sb)
    lines = [line for line in run.stderr.splitlines() if UNKNOWN in line]
    assert len(lines) == 1, run.stderr
    assert lines[0].endswith(
        f"{UNKNOWN} window_dayz (did you mean window_days?). The settings are listed by tap-marketo-bulk --about "
        "and in the README."
    ), lines[0]
