"""Time in the shop's time zone (SHOP_TIME_ZONE): when a wait ends, and which day a date trigger fires on."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings


def shop_zone() -> ZoneInfo:
    return ZoneInfo(settings.SHOP_TIME_ZONE)


def next_weekday_hour(*, after: datetime, weekday: int, hour: int) -> datetime:
    """The first moment strictly after ``after`` that is ``weekday`` (0 Monday) at ``hour``:00 in the shop's zone.

    Built from the local date and hour, so a clock change (summer time) keeps the local hour."""
    zone = shop_zone()
    local = after.astimezone(zone)
    days = (weekday - local.weekday()) % 7
    candidate = datetime.combine(local.date() + timedelta(days=days), datetime.min.time(), zone).replace(hour=hour)
    if candidate <= local:
        candidate = datetime.combine(
            local.date() + timedelta(days=days + 7), datetime.min.time(), zone
        ).replace(hour=hour)
    return candidate


def shop_today(now: datetime) -> tuple[date, int]:
    """The date and hour it is in the shop's zone at ``now``."""
    local = now.astimezone(shop_zone())
    return local.date(), local.hour


def anniversary_days(day: date) -> list[tuple[int, int]]:
    """The (month, day) pairs whose anniversary falls on ``day``: 29 February's falls on 1 March in other years."""
    pairs = [(day.month, day.day)]
    if (day.month, day.day) == (3, 1) and not _is_leap(day.year):
        pairs.append((2, 29))
    return pairs


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
