"""static_list_members: the call estimate logged before any member is read, and its warning."""

from __future__ import annotations

import logging

import pytest

from tap_marketo_bulk.instance import MarketoInstance
from tap_marketo_bulk.streams.lists import StaticListMembersStream

from .rest_mocks import instance, stream_of


@pytest.fixture
def marketo(requests_mock) -> MarketoInstance:
    return instance(requests_mock)


def lists(n: int) -> list[dict]:
    return [{"id": 5000 + i, "name": f"List {i}"} for i in range(n)]


def test_the_estimate_counts_pages_of_known_sizes_jobs_for_large_lists_and_a_page_for_new_ones(marketo, caplog):
    stream = stream_of(StaticListMembersStream, marketo)
    known = {"5000": 0, "5001": 301, "5002": 3000, "5003": 250_000}
    with caplog.at_level(logging.INFO):
        stream.log_estimate(lists(5), known, bulk=1)
    [record] = [r for r in caplog.records if r.name.endswith("static_list_members")]
    assert record.levelno == logging.INFO
    # 1 + 2 + 10 pages of known small lists, 1 for the new one, 5 calls for the job.
    assert record.getMessage() == (
        "static_list_members: 5 lists, about 19 API calls (14 member pages, 1 bulk export jobs; "
        "1 lists not read before, counted at one page each)."
    )


def test_a_selection_far_from_inside_the_daily_calls_is_one_warning_naming_the_setting(marketo, caplog):
    stream = stream_of(StaticListMembersStream, marketo)
    known = {str(5000 + i): 2_900 for i in range(600)}  # 10 pages each
    with caplog.at_level(logging.INFO):
        stream.log_estimate(lists(600), known, bulk=0)
    [record] = [r for r in caplog.records if r.name.endswith("static_list_members")]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "static_list_members: 600 lists, about 6000 API calls (6000 member pages, 0 bulk export jobs). "
        "That is 12% of the 50000 calls a day most subscriptions have; name fewer lists in "
        "static_list_members_lists."
    )
