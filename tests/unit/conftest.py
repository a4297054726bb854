"""Fixtures of the unit tests: a fake clock and an ExportRunner on requests-mock."""

from __future__ import annotations

import pytest

from tap_marketo_bulk.exports.runner import ExportRunner
from tap_marketo_bulk.marketo.client import MarketoClient

from .bulk_mocks import ROOT, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(requests_mock, tmp_path, clock) -> ExportRunner:
    requests_mock.post(f"{ROOT}/identity/oauth/token", json={"access_token": "unit-test-token", "expires_in": 3600})
    client = MarketoClient(ROOT, "id", "secret", max_tries=2, backoff_factor=0.001)
    return ExportRunner(
        client,
        poll_interval=60,
        job_timeout=600,
        max_jobs_in_flight=2,
        temp_dir=str(tmp_path),
        sleep=clock.sleep,
        clock=clock,
    )
