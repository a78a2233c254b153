"""`--day` for every command: YYYY-MM-DD, ``today`` or ``yesterday`` in the owners' time zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DAY_HELP = "YYYY-MM-DD, today or yesterday (default: yesterday in XOPS_TIMEZONE)"


class DayError(ValueError):
    """A --day value that is not a real day; the message is one line for the user."""


def resolve_day(text: str | None, timezone: str, now: datetime | None = None) -> str:
    """The ISO day meant by ``text`` (None = yesterday). Raises DayError with a one-line message."""
    today = (now.astimezone(ZoneInfo(timezone)) if now else datetime.now(ZoneInfo(timezone))).date()
    word = (text or "yesterday").strip().lower()
    if word == "today":
        return today.isoformat()
    if word == "yesterday":
        return (today - timedelta(days=1)).isoformat()
    try:
        if len(word) != 10:
            raise ValueError("expected YYYY-MM-DD")
        return date.fromisoformat(word).isoformat()
    except ValueError as exc:
        raise DayError(f"--day {text!r} is not a day: {exc} (use {DAY_HELP.split(' (')[0]})") from None
