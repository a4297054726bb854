"""Activities end to end: one job per window for all types, exact records, typed streams,
and settings that must fail before any export job."""

from __future__ import annotations

import re

from ..support import END, START
from .helpers import (
    ACTIVITY_COLUMNS,
    WINDOWS,
    base_config,
    by_key,
    create_bodies,
    discover,
    expected_activity,
    expected_attribute,
    jobs_of,
    run_tap,
    select,
    stream_names,
)

DELETE_LEAD = 37


def _in_range(data, type_ids=None):
    return [
        a
        for a in data.activities
        if START <= a["activityDate"] < END and (type_ids is None or a["activityTypeId"] in type_ids)
    ]


def _snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text.strip())
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()


def test_activities_equal_truth_one_job_per_window(sb):
    config = base_config(sb)
    run = run_tap(config, catalog=select(discover(config), ["activities"]))
    assert run.returncode == 0, run.describe()
    records = by_key(run.records("activities"), "marketoGUID")
    truth = {a["marketoGUID"]: expected_activity(a) for a in _in_range(sb.data)}
    assert len(records) == len(truth)
    assert set(records) == set(truth)
    assert records == truth

    all_types = [t["id"] for t in sb.data.activity_types if t["id"] != DELETE_LEAD]
    bodies = create_bodies(sb, "activities")
    assert len(jobs_of(sb, "activities")) == 3
    assert len(bodies) == 3
    for body, (start, end) in zip(bodies, WINDOWS, strict=True):
        assert set(body) == {"fields", "format", "filter"}
        assert sorted(body["fields"]) == sorted(ACTIVITY_COLUMNS)
        assert len(body["fields"]) == len(set(body["fields"]))
        assert body["format"] == "CSV"
        assert body["filter"] == {
            "createdAt": {"startAt": start, "endAt": end},
            "activityTypeIds": body["filter"]["activityTypeIds"],
        }
        assert sorted(body["filter"]["activityTypeIds"]) == sorted(all_types)
        assert len(body["filter"]["activityTypeIds"]) == len(all_types)
    assert run.states[-1]["bookmarks"]["activities"] == {
        "replication_key": "activityDate",
        "replication_key_value": "2024-04-01T00:00:00Z",
    }


def test_activity_type_ids_setting_limits_the_filter(sb):
    config = base_config(sb, activity_type_ids=[10, 1, 2])
    run = run_tap(config, catalog=select(discover(config), ["activities"]))
    assert run.returncode == 0, run.describe()
    records = by_key(run.records("activities"), "marketoGUID")
    truth = {a["marketoGUID"]: expected_activity(a) for a in _in_range(sb.data, {1, 2, 10})}
    assert truth
    assert records == truth
    bodies = create_bodies(sb, "activities")
    assert len(bodies) == 3
    assert [b["filter"]["activityTypeIds"] for b in bodies] == [[10, 1, 2]] * 3
    assert [b["filter"]["createdAt"] for b in bodies] == [{"startAt": s, "endAt": e} for s, e in WINDOWS]


def test_activity_type_streams_share_one_job_per_window(sb):
    config = base_config(sb, activity_type_streams=True)
    catalog = discover(config)
    types = {t["id"]: t for t in sb.data.activity_types if t["id"] != DELETE_LEAD}
    type_streams = {f"activities_{_snake(t['name'])}": t for t in types.values()}
    assert set(type_streams) <= set(stream_names(catalog)), stream_names(catalog)
    run = run_tap(config, catalog=select(catalog, ["activities", *type_streams]))
    assert run.returncode == 0, run.describe()

    assert len(jobs_of(sb, "activities")) == 3
    assert len(create_bodies(sb, "activities")) == 3

    in_range = _in_range(sb.data)
    all_records = by_key(run.records("activities"), "marketoGUID")
    assert all_records == {a["marketoGUID"]: expected_activity(a) for a in in_range}

    seen: dict[str, str] = {}
    for name, activity_type in type_streams.items():
        records = by_key(run.records(name), "marketoGUID")
        want = [a for a in in_range if a["activityTypeId"] == activity_type["id"]]
        assert set(records) == {a["marketoGUID"] for a in want}, name
        for guid in records:
            assert guid not in seen, f"{guid} in {seen.get(guid)} and {name}"
            seen[guid] = name
        primary = activity_type.get("primaryAttribute")
        for act in want:
            record = records[act["marketoGUID"]]
            for column, value in expected_activity(act).items():
                assert record[column] == value, (name, column)
            for attribute in activity_type.get("attributes") or []:
                column = _snake(attribute["name"])
                if primary and column == _snake(primary["name"]):
                    continue  # the primary attribute's column (checked below)
                assert record[column] == expected_attribute(act["attributes"].get(attribute["name"])), (name, column)
            if primary:
                assert record[_snake(primary["name"])] == act["primaryAttributeValueId"], (name, primary)
    assert set(seen) == {a["marketoGUID"] for a in in_range}


def _assert_fails_before_jobs(sb, run, setting):
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.stderr
    assert setting in run.stderr, run.stderr
    assert sb.jobs() == []
    assert create_bodies(sb, "activities") == []


def test_unknown_activity_type_id_fails_before_any_job(sb):
    good = base_config(sb)
    catalog = select(discover(good), ["activities"])
    run = run_tap(base_config(sb, activity_type_ids=[1, 999]), catalog=catalog)
    _assert_fails_before_jobs(sb, run, "activity_type_ids")
    assert "999" in run.stderr


def test_51_primary_attribute_values_fail_before_any_job(sb):
    good = base_config(sb)
    catalog = select(discover(good), ["activities"])
    config = base_config(sb, activity_type_ids=[2], activity_primary_attribute_values=[f"Form {i}" for i in range(51)])
    run = run_tap(config, catalog=catalog)
    _assert_fails_before_jobs(sb, run, "activity_primary_attribute_values")


def test_both_primary_attribute_filters_fail_before_any_job(sb):
    good = base_config(sb)
    catalog = select(discover(good), ["activities"])
    config = base_config(
        sb,
        activity_type_ids=[2],
        activity_primary_attribute_value_ids=[2000],
        activity_primary_attribute_values=["Form 0"],
    )
    run = run_tap(config, catalog=catalog)
    _assert_fails_before_jobs(sb, run, "activity_primary_attribute_value_ids")
    assert "activity_primary_attribute_values" in run.stderr
