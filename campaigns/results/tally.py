"""Clicks and opens counted in Redis, and written to the database in batches.

Right after a send, many people follow the same few links at once. Counting each click with an UPDATE of the link's
row made each click of a link wait for the previous one to commit (bench/bench_public.py: 114 redirects a second,
where the same server answered a trivial view 1,480 times). Now a click or an open is queued in its process and
carried to Redis by a thread of the process's own (``courier``: one round trip for everything queued meanwhile,
none on the request's path), into three keys:

- ``nl:tally:clicks``: a hash of ``<send id>:<position>`` to the clicks since the last flush;
- ``nl:tally:clicked``: a set of ``<send id>:<subscription public id>``, the recipients whose first click is to be
  marked on their delivery (a second click adds nothing: it is a set, and the mark is written only where empty);
- ``nl:tally:opens``: a hash of ``<send id>`` to the image loads since the last flush.

``tally_flush`` moves them into the database in one transaction. It runs on the beat every ``TALLY_FLUSH_SECONDS``
and before a report or the API reads the counts, so what staff see is behind only by the clicks still queued in
other web processes (their last 10 ms or so). Each flush first renames the
three keys to a batch of its own (atomically, in one script), so concurrent flushes never apply the same clicks
twice. A batch whose flush died before its commit is taken over by a later flush after a minute.

If Redis cannot be reached, the courier writes its batch to the database directly, as a request did before. What
can go wrong: Redis losing its data (a restart without persistence, a flush) before a flush loses at most the clicks
and opens of those seconds; a process killed without warning loses those still queued in it (see ``courier``); a
flush that dies between its commit and deleting its batch counts that batch twice. All only touch aggregate counts
and first-click times, never who is mailed.
"""

import time
import uuid
from collections import Counter, defaultdict

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from campaigns.models import Delivery, Send, TrackedLink
from campaigns.results.courier import courier_for, courier_wait

CLICKS, CLICKED, OPENS = "nl:tally:clicks", "nl:tally:clicked", "nl:tally:opens"
BATCHES = "nl:tally:batches"  # a sorted set: batch name -> when it was taken
FLUSH_WAIT_SECONDS = 2  # how long a flush waits for this process's queued clicks to reach Redis
ORPHAN_SECONDS = 60  # a batch still there this long after it was taken belongs to a flush that died

# KEYS: the three live keys, then the batch set. ARGV: the batch name, and now (seconds).
# Renames each live key that exists to <key>:<batch>, and records the batch when anything was taken.
_TAKE = """
local taken = 0
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i] .. ':' .. ARGV[1])
    taken = 1
  end
end
if taken == 1 then redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1]) end
return taken
"""

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        # No retries: a batch Redis did not take goes to the database at once (the courier's queue does not grow
        # behind a down Redis), and a batch Redis took but answered late is not sent again (counted twice).
        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
    return _client


def tally_click(*, send_id: int, position: int, public_id: str | None) -> None:
    """Count one click on a link, and the recipient's first click when their key named them. Queued for this
    process's courier (``courier``), which carries it to Redis: the request does not wait for the count."""
    courier_for(_carry).put((send_id, position, public_id))


def tally_open(*, send_id: int) -> None:
    """Count one load of a send's image (queued, as a click is)."""
    courier_for(_carry).put((send_id,))


def _carry(entries: list[tuple]) -> None:
    """Add up queued clicks and opens (``(send id, position, public id or None)`` and ``(send id,)``) and write them
    to Redis in one round trip; when Redis cannot be reached, to the database at once."""
    clicks: Counter = Counter()
    clicked: dict[int, set[str]] = defaultdict(set)
    opens: Counter = Counter()
    for entry in entries:
        if len(entry) == 1:
            opens[entry[0]] += 1
            continue
        send_id, position, public_id = entry
        clicks[(send_id, position)] += 1
        if public_id:
            clicked[send_id].add(public_id)
    try:
        pipe = _redis().pipeline(transaction=False)
        for (send_id, position), count in clicks.items():
            pipe.hincrby(CLICKS, f"{send_id}:{position}", count)
        if clicked:
            pipe.sadd(CLICKED, *(f"{send_id}:{public_id}" for send_id, ids in clicked.items() for public_id in ids))
        for send_id, count in opens.items():
            pipe.hincrby(OPENS, str(send_id), count)
        pipe.execute()
    except redis.RedisError:
        with transaction.atomic():
            _clicks_apply(clicks)
            _clicked_apply(clicked)
            _opens_apply(opens)


def tally_flush() -> int:
    """Write the counts gathered in Redis to the database, this process's queued ones carried there first; returns
    how many entries were applied. Cheap when there is nothing to write (one script call). Raises
    ``redis.RedisError`` when Redis cannot be reached."""
    courier_wait(timeout=FLUSH_WAIT_SECONDS)  # this process's clicks and opens queued so far, first
    client = _redis()
    now = time.time()
    batch = uuid.uuid4().hex
    batches = [batch] if client.eval(_TAKE, 4, CLICKS, CLICKED, OPENS, BATCHES, batch, now) else []
    batches += [b.decode() for b in client.zrangebyscore(BATCHES, "-inf", now - ORPHAN_SECONDS)]
    applied = 0
    for name in batches:
        if name != batch and not client.zrem(BATCHES, name):
            continue  # another flush took this orphan first
        applied += _batch_apply(client, name)
        client.delete(*(f"{key}:{name}" for key in (CLICKS, CLICKED, OPENS)))
        client.zrem(BATCHES, name)
    return applied


def _batch_apply(client: redis.Redis, name: str) -> int:
    clicks = {tuple(int(part) for part in k.decode().split(":")): int(v)
              for k, v in client.hgetall(f"{CLICKS}:{name}").items()}
    clicked: dict[int, set[str]] = defaultdict(set)
    for member in client.smembers(f"{CLICKED}:{name}"):
        send_id, public_id = member.decode().split(":", 1)
        clicked[int(send_id)].add(public_id)
    opens = {int(k): int(v) for k, v in client.hgetall(f"{OPENS}:{name}").items()}
    with transaction.atomic():
        _clicks_apply(clicks)
        _clicked_apply(clicked)
        _opens_apply(opens)
    return len(clicks) + sum(len(ids) for ids in clicked.values()) + len(opens)


def _clicks_apply(clicks: dict[tuple[int, int], int]) -> None:
    for (send_id, position), count in sorted(clicks.items()):  # one order of row locks for every flush
        TrackedLink.objects.filter(send_id=send_id, position=position).update(clicks=F("clicks") + count)


def _clicked_apply(clicked: dict[int, set[str]]) -> None:
    now = timezone.now()
    for send_id, public_ids in sorted(clicked.items()):
        Delivery.objects.filter(
            send_id=send_id, subscription__public_id__in=sorted(public_ids), clicked_at__isnull=True
        ).update(clicked_at=now)


def _opens_apply(opens: dict[int, int]) -> None:
    for send_id, count in sorted(opens.items()):
        Send.objects.filter(pk=send_id).update(opens=F("opens") + count)
