"""Schedules as people write them, computed in a time zone with zoneinfo.

Two kinds of rule:

- `Cron("0 2 * * *", tz)`: five fields (minute hour day-of-month month day-of-week) read in
  wall-clock time of `tz`. Fields take `*`, numbers, `a-b`, `*/n`, `a-b/n`, lists (`1,15`) and
  names (`jan`, `mon`); day-of-week 0 or 7 is Sunday. As in cron, when both day-of-month and
  day-of-week are restricted a day matching either one fires.
- `Every(seconds)`: `every 30s` / `every 5m` / `every 2h`, fired at multiples of the period
  since the Unix epoch, so every process computes the same instants.

Daylight-saving time (what `next_after` and `latest_at_or_before` return):

- A wall time that does not exist (the spring-forward gap, 02:00-02:59 in New York) fires as
  far after the gap as it was into it: 02:00 fires at 03:00 daylight time, 02:30 at 03:30. A
  daily run is never skipped.
- A wall time that happens twice (the fall-back hour, 01:00-01:59 in New York) fires once, at
  its first occurrence, unless the hour field is `*`: an hourly or minutely rule keeps firing
  through the repeated hour, since real time goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names mapped to numbers)
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(MONTHS)}),
    ("day of week", 0, 7, {name: i for i, name in enumerate(DAYS)}),
)
# A rule like "0 0 29 2 *" fires once in up to eight years (no leap day in 2100).
SEARCH_DAYS = 8 * 366 + 2
EVERY = re.compile(r"^every\s+(\d+)\s*([smhd]?)$", re.IGNORECASE)
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ScheduleError(ValueError):
    """A schedule text that cannot be read."""


def _value(text: str, low: int, high: int, names: dict[str, int], what: str) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not text.isdigit():
        raise ScheduleError(f"{what}: {text!r} is not a number or a name")
    number = int(text)
    if not low <= number <= high:
        raise ScheduleError(f"{what}: {number} is outside {low}-{high}")
    return number


def parse_field(text: str, low: int, high: int, names: dict[str, int], what: str) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"{what}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _value(first, low, high, names, what)
            stop = _value(last, low, high, names, what)
            if start > stop:
                raise ScheduleError(f"{what}: range {base!r} runs backwards")
        else:
            start = _value(base, low, high, names, what)
            stop = high if step_text else start
        values.update(range(start, stop + 1, step))
    if not values:
        raise ScheduleError(f"{what}: {text!r} matches nothing")
    return values


@dataclass(frozen=True)
class Cron:
    text: str
    tz: ZoneInfo
    minutes: frozenset[int] = field(init=False)
    hours: frozenset[int] = field(init=False)
    days: frozenset[int] = field(init=False)
    months: frozenset[int] = field(init=False)
    weekdays: frozenset[int] = field(init=False)  # 0 = Sunday
    any_day: bool = field(init=False)
    any_weekday: bool = field(init=False)

    def __post_init__(self) -> None:
        parts = self.text.split()
        if len(parts) != 5:
            raise ScheduleError(
                f"{self.text!r}: a cron schedule has 5 fields "
                "(minute hour day-of-month month day-of-week)"
            )
        sets = [
            parse_field(p, lo, hi, names, what)
            for p, (what, lo, hi, names) in zip(parts, FIELDS, strict=True)
        ]
        weekdays = {0 if d == 7 else d for d in sets[4]}
        for name, value in zip(
            ("minutes", "hours", "days", "months", "weekdays"), [*sets[:4], weekdays], strict=True
        ):
            object.__setattr__(self, name, frozenset(value))
        object.__setattr__(self, "any_day", parts[2] == "*")
        object.__setattr__(self, "any_weekday", parts[4] == "*")

    def __str__(self) -> str:
        return self.text

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow

    def instants(self, day: date) -> list[datetime]:
        """Every instant (UTC) this rule fires on a local calendar day, sorted."""
        if not self._day_matches(day):
            return []
        every_hour = len(self.hours) == 24
        found: set[datetime] = set()
        for hour in self.hours:
            for minute in self.minutes:
                wall = datetime(day.year, day.month, day.day, hour, minute)
                # fold=0: a gap time lands after the gap; a repeated time at its first occurrence.
                found.add(wall.replace(tzinfo=self.tz).astimezone(UTC))
                if every_hour:
                    found.add(wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC))
        return sorted(found)

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment`."""
        moment = as_utc(moment)
        start = moment.astimezone(self.tz).date() - timedelta(days=1)
        best: datetime | None = None
        for offset in range(SEARCH_DAYS):
            day = start + timedelta(days=offset)
            later = [t for t in self.instants(day) if t > moment]
            if later and (best is None or later[0] < best):
                best = later[0]
            if best is not None and best.astimezone(self.tz).date() < day:
                return best
        if best is None:
            raise ScheduleError(f"{self.text!r} never fires")
        return best

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last firing at or before `moment`."""
        moment = as_utc(moment)
        start = moment.astimezone(self.tz).date() + timedelta(days=1)
        best: datetime | None = None
        for offset in range(SEARCH_DAYS):
            day = start - timedelta(days=offset)
            earlier = [t for t in self.instants(day) if t <= moment]
            if earlier and (best is None or earlier[-1] > best):
                best = earlier[-1]
            if best is not None and best.astimezone(self.tz).date() > day:
                return best
        if best is None:
            raise ScheduleError(f"{self.text!r} never fires")
        return best


@dataclass(frozen=True)
class Every:
    seconds: int

    def __post_init__(self) -> None:
        if self.seconds < 1:
            raise ScheduleError("an interval must be at least 1 second")

    def __str__(self) -> str:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.seconds % size == 0:
                return f"every {self.seconds // size}{unit}"
        return f"every {self.seconds}s"

    def next_after(self, moment: datetime) -> datetime:
        stamp = as_utc(moment).timestamp()
        return datetime.fromtimestamp((stamp // self.seconds + 1) * self.seconds, UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        stamp = as_utc(moment).timestamp()
        return datetime.fromtimestamp((stamp // self.seconds) * self.seconds, UTC)


Rule = Cron | Every


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse(text: str, tz: ZoneInfo | str) -> Rule:
    """A rule from its text: five cron fields, or `every N[s|m|h|d]`."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    text = " ".join(text.split())
    match = EVERY.match(text)
    if match:
        return Every(int(match.group(1)) * UNIT_SECONDS[match.group(2).lower()])
    return Cron(text, zone)
