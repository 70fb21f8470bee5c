"""Next-run times around the daylight-saving changes of America/New_York, with a frozen clock.

2027: spring forward Sunday March 14 (02:00 EST → 03:00 EDT), fall back Sunday November 7
(02:00 EDT → 01:00 EST). Every "now" here is fixed; nothing sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import Celery

from synapse.celery_app import create_celery
from synapse.config import Settings
from synapse.maintenance.cron import Cron, Every, ScheduleError, parse
from synapse.maintenance.schedule import BeatRule, beat_schedule, is_missed, planned, slot_job_id

NY = ZoneInfo("America/New_York")
DAILY = parse("0 2 * * *", NY)  # the backup
WEEKLY = parse("0 8 * * 1", NY)  # the report


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def local(moment: datetime) -> str:
    return moment.astimezone(NY).isoformat()


# -- spring forward: 2027-03-14, 02:00 does not exist ------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2027-03-13T01:00:00-05:00", "2027-03-13T02:00:00-05:00"),  # the day before: EST
        ("2027-03-13T02:00:00-05:00", "2027-03-14T03:00:00-04:00"),  # the gap: at 03:00 EDT
        ("2027-03-14T01:59:59-05:00", "2027-03-14T03:00:00-04:00"),  # a second before the change
        ("2027-03-14T03:00:00-04:00", "2027-03-15T02:00:00-04:00"),  # just after: EDT
        ("2027-03-14T03:00:01-04:00", "2027-03-15T02:00:00-04:00"),
    ],
)
def test_daily_backup_around_spring_forward(now: str, expected: str) -> None:
    assert local(DAILY.next_after(at(now))) == expected


def test_the_daily_run_is_never_skipped_across_spring_forward() -> None:
    runs, moment = [], at("2027-03-12T12:00:00-05:00")
    for _ in range(4):
        moment = DAILY.next_after(moment)
        runs.append(local(moment))
    assert runs == [
        "2027-03-13T02:00:00-05:00",
        "2027-03-14T03:00:00-04:00",
        "2027-03-15T02:00:00-04:00",
        "2027-03-16T02:00:00-04:00",
    ]


def test_a_time_inside_the_gap_fires_as_far_after_it() -> None:
    rule = parse("30 2 * * *", NY)
    assert local(rule.next_after(at("2027-03-14T00:00:00-05:00"))) == "2027-03-14T03:30:00-04:00"


def test_weekly_report_keeps_its_wall_time_across_spring_forward() -> None:
    before = WEEKLY.next_after(at("2027-03-09T12:00:00-05:00"))
    after = WEEKLY.next_after(before)
    assert local(before) == "2027-03-15T08:00:00-04:00"
    assert local(after) == "2027-03-22T08:00:00-04:00"
    # Monday 08:00 EST was 13:00 UTC; after the change it is 12:00 UTC: 7 days less an hour.
    assert WEEKLY.next_after(at("2027-03-02T12:00:00-05:00")).hour == 13
    assert before.astimezone(UTC).hour == 12
    assert before - WEEKLY.latest_at_or_before(before - timedelta(seconds=1)) == timedelta(
        days=7, hours=-1
    )


# -- fall back: 2027-11-07, 01:00-01:59 happens twice ------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2027-11-06T02:00:00-04:00", "2027-11-07T02:00:00-05:00"),  # a 25-hour day
        ("2027-11-07T01:30:00-04:00", "2027-11-07T02:00:00-05:00"),  # first 01:30 (EDT)
        ("2027-11-07T01:30:00-05:00", "2027-11-07T02:00:00-05:00"),  # second 01:30 (EST)
        ("2027-11-07T02:00:00-05:00", "2027-11-08T02:00:00-05:00"),
    ],
)
def test_daily_backup_around_fall_back(now: str, expected: str) -> None:
    assert local(DAILY.next_after(at(now))) == expected


def test_daily_at_a_repeated_time_runs_once() -> None:
    rule = parse("30 1 * * *", NY)
    first = rule.next_after(at("2027-11-07T00:00:00-04:00"))
    assert local(first) == "2027-11-07T01:30:00-04:00"
    assert local(rule.next_after(first)) == "2027-11-08T01:30:00-05:00"


def test_hourly_keeps_firing_through_the_repeated_hour() -> None:
    rule = parse("30 * * * *", NY)
    runs, moment = [], at("2027-11-07T00:45:00-04:00")
    for _ in range(3):
        moment = rule.next_after(moment)
        runs.append(local(moment))
    assert runs == [
        "2027-11-07T01:30:00-04:00",
        "2027-11-07T01:30:00-05:00",
        "2027-11-07T02:30:00-05:00",
    ]


def test_latest_slot_is_the_mirror_of_next() -> None:
    assert local(DAILY.latest_at_or_before(at("2027-03-14T12:00:00-04:00"))) == (
        "2027-03-14T03:00:00-04:00"
    )
    assert local(DAILY.latest_at_or_before(at("2027-11-07T01:59:00-05:00"))) == (
        "2027-11-06T02:00:00-04:00"
    )
    slot = at("2027-11-07T02:00:00-05:00")
    assert DAILY.latest_at_or_before(slot) == slot


# -- beat's view: is_due with a frozen now ------------------------------------------------------


def frozen(now: str) -> BeatRule:
    app = Celery("t", set_as_current=False)
    app.conf.timezone = "America/New_York"
    return BeatRule(DAILY, nowfun=lambda: at(now), app=app)


def test_beat_is_due_at_the_shifted_slot_and_not_before() -> None:
    last = at("2027-03-13T02:00:00-05:00")
    due, wait = frozen("2027-03-14T01:59:00-05:00").is_due(last)
    assert not due and wait == 60  # 01:59 EST → 03:00 EDT is one real minute
    due, wait = frozen("2027-03-14T03:00:00-04:00").is_due(last)
    assert due and wait == timedelta(hours=23).total_seconds()  # next: Monday 02:00 EDT


def test_beat_waits_25_hours_into_fall_back() -> None:
    due, wait = frozen("2027-11-06T02:00:00-04:00").is_due(at("2027-11-06T02:00:00-04:00"))
    assert not due and wait == timedelta(hours=25).total_seconds()


# -- rules, entries and `missed` ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["0 2 * *", "60 * * * *", "* 24 * * *", "0 0 0 * *", "0 0 * 13 *", "5-1 * * * *", "x * * * *"],
)
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse(text, NY)


def test_cron_fields_names_steps_and_either_day() -> None:
    rule = parse("*/15 9-17 * * mon-fri", NY)
    assert (
        isinstance(rule, Cron)
        and rule.minutes == {0, 15, 30, 45}
        and rule.weekdays == {1, 2, 3, 4, 5}
    )
    assert parse("0 0 * * 7", NY).weekdays == {0}  # 7 is Sunday too
    either = parse("0 12 1 * fri", NY)  # the 1st of the month, or any Friday
    assert local(either.next_after(at("2027-01-01T13:00:00-05:00"))) == "2027-01-08T12:00:00-05:00"
    assert local(either.next_after(at("2027-01-29T13:00:00-05:00"))) == "2027-02-01T12:00:00-05:00"


def test_every_is_aligned_to_the_epoch() -> None:
    rule = parse("every 2s", NY)
    assert rule == Every(2) and str(parse("every 300s", NY)) == "every 5m"
    now = at("2027-01-01T00:00:03.500+00:00")
    assert rule.next_after(now) == at("2027-01-01T00:00:04+00:00")
    assert rule.latest_at_or_before(now) == at("2027-01-01T00:00:02+00:00")


def test_settings_entries_and_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    names = {e.name: (e.task, str(e.rule), e.job) for e in planned(settings)}
    assert names == {
        "daily-backup": ("backup_database", "0 2 * * *", True),
        "weekly-report": ("generate_weekly_report", "0 8 * * 1", True),
        "prune-job-history": ("prune_job_history", "30 3 * * *", True),
        "sweep-abandoned-jobs": ("synapse.sweep_abandoned_jobs", "every 5m", False),
    }
    off = Settings(_env_file=None, schedule_report="off")  # type: ignore[call-arg]
    assert "weekly-report" not in beat_schedule(off)
    # Settings hold the text; every process checks it when it builds its schedule at start
    # (create_celery, which the API, the worker and beat all call).
    bad = Settings(_env_file=None, schedule_backup="0 2 * *")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="SYNAPSE_SCHEDULE_BACKUP"):
        beat_schedule(bad)
    with pytest.raises(ValueError, match="SYNAPSE_SCHEDULE_BACKUP"):
        create_celery(bad)


def test_missed_only_when_beat_was_watching_and_nothing_ran() -> None:
    now = at("2027-03-15T09:00:00-04:00")
    grace = timedelta(minutes=2)
    slot = at("2027-03-15T02:00:00-04:00")
    watching = at("2027-03-01T00:00:00+00:00")
    assert is_missed(DAILY, last_run_at=None, watched_since=watching, now=now, grace=grace) == slot
    assert is_missed(DAILY, last_run_at=None, watched_since=None, now=now, grace=grace) is None
    late_start = at("2027-03-15T05:00:00-04:00")  # beat started after the slot
    assert (
        is_missed(DAILY, last_run_at=None, watched_since=late_start, now=now, grace=grace) is None
    )
    ran = slot + timedelta(seconds=1)
    assert is_missed(DAILY, last_run_at=ran, watched_since=watching, now=now, grace=grace) is None
    yesterday = DAILY.latest_at_or_before(slot - timedelta(seconds=1))  # 03:00 EDT, the 14th
    assert is_missed(DAILY, last_run_at=yesterday, watched_since=watching, now=now, grace=grace)
    just_after = slot + timedelta(minutes=1)  # still within the grace: not missed yet
    assert (
        is_missed(DAILY, last_run_at=yesterday, watched_since=watching, now=just_after, grace=grace)
        is None
    )


def test_a_slot_has_one_job_id() -> None:
    slot = at("2027-03-15T02:00:00-04:00")
    assert slot_job_id("daily-backup", slot) == slot_job_id("daily-backup", slot.astimezone(UTC))
    assert slot_job_id("daily-backup", slot) != slot_job_id(
        "daily-backup", slot + timedelta(days=1)
    )
