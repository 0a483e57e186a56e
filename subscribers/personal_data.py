"""Where personal data is found: apps register an eraser and an exporter here when they start.

``subscribers`` never imports ``campaigns``, yet an erasure must reach the delivery ledger and stored SES
events, and a copy of someone's data must include what was sent to them. So each app that holds personal data
registers functions in its ``AppConfig.ready()``: the erasure service calls every eraser, inside its
transaction, with an ``ErasureTarget``; the access export calls every exporter with the subscriber's id and
puts the tables they return in the copy.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ErasureTarget:
    """Whom an erasure is about: their subscriber, their account, or both. ``emails`` are held in memory only, to
    find the addresses in free text."""

    subscriber_id: int | None
    user_id: int | None
    subscription_ids: tuple[int, ...]
    emails: tuple[str, ...]


# An eraser removes or anonymises what its app holds about the target and returns counts, e.g. {"deliveries": 3}.
Eraser = Callable[[ErasureTarget], dict[str, int]]
_erasers: dict[str, Eraser] = {}


def eraser_register(name: str, eraser: Eraser) -> None:
    """Register (or replace) the eraser called ``name``."""
    _erasers[name] = eraser


def erasers() -> dict[str, Eraser]:
    return dict(_erasers)


# An exporter returns tables about one subscriber: {"deliveries": [{"sent_at": ..., ...}, ...]}.
Exporter = Callable[[int], dict[str, list[dict]]]
_exporters: dict[str, Exporter] = {}


def exporter_register(name: str, exporter: Exporter) -> None:
    """Register (or replace) the exporter called ``name``."""
    _exporters[name] = exporter


def exporters() -> dict[str, Exporter]:
    return dict(_exporters)


def export_time(value) -> str:
    """A date or time as exporters write it: ISO 8601, or empty when there is none."""
    return value.isoformat() if value else ""


def text_scrub(value, emails: tuple[str, ...], replacement: str = "[erased]"):
    """``value`` (a string, or lists and dicts of them, as in a JSON payload) with every occurrence of the
    addresses replaced, whatever its case."""
    if isinstance(value, str):
        lowered = value.lower()
        for email in emails:
            start = lowered.find(email)
            while start >= 0:
                value = value[:start] + replacement + value[start + len(email) :]
                lowered = value.lower()
                start = lowered.find(email, start + len(replacement))
        return value
    if isinstance(value, list):
        return [text_scrub(item, emails, replacement) for item in value]
    if isinstance(value, dict):
        return {key: text_scrub(item, emails, replacement) for key, item in value.items()}
    return value
