"""API subscriber creation and topic changes per second under gunicorn, beside the public form's sign-up rate.

Starts gunicorn (``--workers``, default 2 per core) on a free port with the local settings against DATABASE_URL
and REDIS_URL, makes an API key with ``manage.py api_key_create``, then for ``--seconds`` each runs ``--clients``
threads, each on one kept-alive connection:

1. ``POST /api/v1/subscribers/`` with a new address each time (double opt-in: a pending subscription, a consent
   event, an audit log entry, the confirmation email queued for a worker);
2. ``PUT /api/v1/subscribers/<id>/topics/`` on the subscribers just made, alternating between two topic lists
   (each call withdraws one topic or requests it again: events, audit log, a queued email);
3. the public form, ``POST /newsletter/subscribe/`` with its CSRF token (fetched with the form first, per client),
   which queues the sign-up for a worker and redirects.

No Celery worker runs: the emails and the form's sign-ups wait in Redis, so what is measured is the web tier. The
rate limits are raised for the run (API_RATE, SUBSCRIBE_RATE_PER_IP, SUBSCRIBE_RATE_PER_ADDRESS).

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/bench_api.py
"""

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/favicon.ico")  # not /healthz/, which would also ask SES
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 30 s")


def run_phase(*, clients: int, seconds: float, port: int, work) -> tuple[int, int]:
    """Run ``work(connection, index, n)`` in ``clients`` threads for ``seconds``; returns (done, errors)."""
    counts = [[0, 0] for _ in range(clients)]
    stop = time.monotonic() + seconds

    def loop(index: int):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        state = {}
        n = 0
        while time.monotonic() < stop:
            ok = work(connection, index, n, state)
            counts[index][0 if ok else 1] += 1
            n += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL (a PostgreSQL and a Redis of your own).")
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="newsletter.settings.local",
        DEBUG="false",
        API_RATE="100000000/min",
        SUBSCRIBE_RATE_PER_IP="100000000/h",
        SUBSCRIBE_RATE_PER_ADDRESS="100000000/h",
        LOG_LEVEL="WARNING",
    )
    subprocess.run([BIN / "python", "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    run_id = uuid.uuid4().hex[:8]
    made = subprocess.run(  # noqa: S603 - our own interpreter and command
        [BIN / "python", "manage.py", "api_key_create", "--name", f"bench {run_id}", "--scopes",
         "subscribers:read,subscribers:write"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )
    key = made.stdout.strip().splitlines()[-1]
    subprocess.run(  # noqa: S603 - a second topic to change to and from
        [BIN / "python", "manage.py", "shell", "-c",
         "from subscribers.models import Topic; Topic.objects.get_or_create(slug='bench', defaults={'name': 'Bench'})"],
        cwd=ROOT, env=env, check=True,
    )
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [BIN / "gunicorn", "newsletter.wsgi", "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    try:
        wait_for(port)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        created: list[list[str]] = [[] for _ in range(args.clients)]

        def create(connection, index, n, state):
            body = json.dumps({"email": f"api-{run_id}-{index}-{n}@bench.example", "topics": ["general"]})
            connection.request("POST", "/api/v1/subscribers/", body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            if response.status == 202:
                created[index].append(json.loads(data)["public_id"])
                return True
            return False

        def topics(connection, index, n, state):
            ids = created[index]
            public_id = ids[n % len(ids)]
            wanted = ["general", "bench"] if (n // len(ids)) % 2 == 0 else ["general"]
            connection.request(
                "PUT", f"/api/v1/subscribers/{public_id}/topics/", body=json.dumps({"topics": wanted}), headers=headers
            )
            response = connection.getresponse()
            response.read()
            return response.status == 200

        def form(connection, index, n, state):
            if "token" not in state:
                connection.request("GET", "/newsletter/subscribe/")
                response = connection.getresponse()
                page = response.read().decode()
                state["cookie"] = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie"))[1]
                state["token"] = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
            body = f"csrfmiddlewaretoken={state['token']}&email=form-{run_id}-{index}-{n}%40bench.example&first_name="
            connection.request(
                "POST",
                "/newsletter/subscribe/",
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": f"csrftoken={state['cookie']}",
                    "Referer": f"http://127.0.0.1:{port}/newsletter/subscribe/",
                },
            )
            response = connection.getresponse()
            response.read()
            return response.status == 302

        print(f"gunicorn: {args.workers} workers; {args.clients} clients; {args.seconds:.0f} s per phase")
        for label, work in (("API subscriber creation", create), ("API topic changes", topics),
                            ("public form sign-up", form)):
            done, errors = run_phase(clients=args.clients, seconds=args.seconds, port=port, work=work)
            print(f"{label:28} {done / args.seconds:8.1f} /s  ({done} in {args.seconds:.0f} s, {errors} errors)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
