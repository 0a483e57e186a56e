"""What the test settings need to give each process of a parallel test run (``pytest -n N``) its own Redis."""

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .base import redis_url_database

REDIS_DATABASES = 16  # redis-server's default number of databases


def parallel_process_number() -> int:
    """0 for a plain run or the first of a parallel run's processes (gw0), 1 for gw1, and so on."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name.removeprefix("gw")) if name.startswith("gw") else 0


def redis_database_after(redis_url: str, offset: int) -> str:
    """``redis_url`` with its database number raised by ``offset``: ``redis://host/N``, ``redis://host?db=N`` (where
    the query's number is the one redis-py uses) or ``unix://path?db=N``."""
    if not offset:
        return redis_url
    database = redis_url_database(redis_url) + offset
    url = urlsplit(redis_url)
    options = dict(parse_qsl(url.query))
    in_query = options.pop("db", None) is not None
    if url.scheme == "unix" or in_query:
        query = urlencode({"db": database, **options})
        # urlsplit would drop a socket URL's empty host, and with it the "//"
        moved = f"{redis_url.partition('?')[0]}?{query}"
    else:
        moved = urlunsplit(url._replace(path=f"/{database}"))
    if database >= REDIS_DATABASES:
        raise ValueError(
            f"Test process {offset} would need Redis database {database}, and Redis has {REDIS_DATABASES}: "
            "run fewer test processes, or point REDIS_URL at a lower database."
        )
    return moved
