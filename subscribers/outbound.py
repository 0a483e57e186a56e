"""Events for other systems: the seam through which a change here is told to whoever listens (outgoing webhooks).

``subscribers`` never imports the apps above it, yet its services must announce a confirmed opt-in, an unsubscribe,
an erasure. So a listener registers a publisher here when its app starts (``webhooks`` in its ``AppConfig.ready()``),
and a service calls ``outbound_event_publish`` INSIDE the transaction of its change: the publisher writes its rows in
that transaction, so the event and the change stand or fall together (never an event for a change that rolled back).
With no publisher registered, publishing does nothing.
"""

from collections.abc import Callable

# A publisher takes the same keyword arguments as ``outbound_event_publish``.
Publisher = Callable[..., None]
_publishers: dict[str, Publisher] = {}


def outbound_publisher_register(fn: Publisher, *, name: str | None = None) -> None:
    """Register (or replace) a publisher, by ``name`` (default: its module and name), so a second ``ready()`` does
    not register it twice."""
    _publishers[name or f"{fn.__module__}.{fn.__qualname__}"] = fn


def outbound_event_publish(*, type: str, data: dict, subscriber=None, ordering_key: str | None = None) -> None:
    """Tell every registered publisher that ``type`` happened. ``data`` holds public ids only (never an address or a
    name); ``subscriber`` is whom it is about, when a person; ``ordering_key`` groups events whose order matters to a
    receiver (by default the subscriber's public id). Call inside the transaction of the change."""
    for publisher in list(_publishers.values()):
        publisher(type=type, data=data, subscriber=subscriber, ordering_key=ordering_key)
