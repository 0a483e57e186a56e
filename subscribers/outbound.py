"""Events for other systems: the seam through which a change here is told to whoever listens (outgoing webhooks).

``subscribers`` never imports the apps above it, yet its services must announce a confirmed opt-in, an unsubscribe,
an erasure. So a listener registers a publisher here when its app starts (``webhooks`` in its ``AppConfig.ready()``),
and a service calls ``outbound_event_publish`` INSIDE the transaction of its change: the publisher writes its rows in
that transaction, so the event and the change stand or fall together (never an event for a change that rolled back).
With no publisher registered, publishing does nothing.

A publisher may also say whether it would record an event of a type at all (``listens``), so that a change made
thousands of times a second (the one-click unsubscribe) can skip what only publishing needs when nobody listens. It
may say the same as a condition in SQL (``listens_sql``), so that such a change can ask inside its own statement,
without a round trip of its own to the database (``outbound_event_listened_sql``).
"""

from collections.abc import Callable

# A publisher takes the same keyword arguments as ``outbound_event_publish``.
Publisher = Callable[..., None]
# Whether a publisher would record an event of this type now.
Listens = Callable[[str], bool]
# The same as a PostgreSQL boolean expression and its named parameters (names prefixed with the publisher's name).
ListensSql = Callable[[str], tuple[str, dict]]
_publishers: dict[str, Publisher] = {}
_listens: dict[str, Listens] = {}
_listens_sql: dict[str, ListensSql] = {}


def outbound_publisher_register(
    fn: Publisher, *, name: str | None = None, listens: Listens | None = None, listens_sql: ListensSql | None = None
) -> None:
    """Register (or replace) a publisher, by ``name`` (default: its module and name), so a second ``ready()`` does
    not register it twice. ``listens(type)`` says whether it would record an event of that type now; a publisher
    registered without it is taken to listen to everything. ``listens_sql(type)``, when given, says the same as a
    condition on PostgreSQL that a statement can include (it must agree with ``listens``)."""
    name = name or f"{fn.__module__}.{fn.__qualname__}"
    _publishers[name] = fn
    _listens[name] = listens or (lambda type: True)
    if listens_sql is None:
        _listens_sql.pop(name, None)
    else:
        _listens_sql[name] = listens_sql


def outbound_event_listened(*, type: str) -> bool:
    """Whether any registered publisher would record an event of ``type`` now. A change that finds nobody listening
    may leave out what only publishing needs; one that finds someone must publish in its transaction as usual."""
    return any(_listens[name](type) for name in list(_publishers))


def outbound_event_listened_sql(*, type: str) -> tuple[str, dict]:
    """``outbound_event_listened`` as a PostgreSQL boolean expression and its named parameters, for a statement that
    asks in the same round trip as its change (and in the same snapshot). Publishers that cannot say it in SQL are
    asked now, in Python: "TRUE" when one of them listens."""
    conditions, params = [], {}
    for name in list(_publishers):
        if name in _listens_sql:
            condition, named = _listens_sql[name](type)
            conditions.append(f"({condition})")
            params.update(named)
        elif _listens[name](type):
            return "TRUE", {}
    return " OR ".join(conditions) or "FALSE", params


def outbound_event_publish(*, type: str, data: dict, subscriber=None, ordering_key: str | None = None) -> None:
    """Tell every registered publisher that ``type`` happened. ``data`` holds public ids only (never an address or a
    name); ``subscriber`` is whom it is about, when a person; ``ordering_key`` groups events whose order matters to a
    receiver (by default the subscriber's public id). Call inside the transaction of the change."""
    for publisher in list(_publishers.values()):
        publisher(type=type, data=data, subscriber=subscriber, ordering_key=ordering_key)
