"""The end-of-run line: jobs, MB, calls, the quota left, and the calls of each stream."""

from __future__ import annotations

import collections

from tap_marketo_bulk.exports.spend import ExportSpend, run_summary


def test_calls_by_stream_follow_the_quota_summary_in_name_order_with_the_rest_as_other():
    spend = ExportSpend(jobs_created=collections.Counter({"leads": 3}), bytes_downloaded=12_400_000)
    line = run_summary(spend, 41, 19.8, 500, {"leads": 12, "campaigns": 3, "activities": 9, "emails": 0})
    assert line == (
        "Run spent: 3 export jobs created (leads 3), 0 re-attached, 12.4 MB exported, 41 API calls; "
        "at most 480.2 MB of the 500 MB daily export quota left (19.8 MB used today by this API user's jobs; "
        "other API users' jobs count too). API calls by stream: activities 9, campaigns 3, leads 12, other 17."
    )


def test_a_rest_only_run_lists_its_streams_and_nothing_when_no_stream_called():
    spend = ExportSpend()
    assert run_summary(spend, 7, None, 500, {"campaigns": 2, "emails": 5}) == (
        "Run spent: 0 export jobs created, 0 re-attached, 0.0 MB exported, 7 API calls. "
        "API calls by stream: campaigns 2, emails 5."
    )
    assert run_summary(spend, 3, None, 500, {}) == (
        "Run spent: 0 export jobs created, 0 re-attached, 0.0 MB exported, 3 API calls."
    )
