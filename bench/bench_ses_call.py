"""Benchmark: the CPU one SendEmail call costs the sending process, boto3's client beside our ``ses_http``.

Run with ``.venv/bin/python bench/bench_ses_call.py [--calls N]``. Both make the same request (a 30 kB raw
message, two tags, a configuration set) to the fast local endpoint (``bench/fast_ses.py``), one call after
another from this one process; each is measured over N calls after 200 warm-up calls. Printed: CPU
microseconds per call (user + system of this process, which is what limits a busy worker), wall
microseconds per call, and the ratio.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(call, calls: int) -> tuple[float, float]:
    for _ in range(200):
        call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()
    endpoint = f"http://127.0.0.1:{args.port}"
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": "newsletter.settings.local", "SES_ENDPOINT_URL": endpoint, "LOG_LEVEL": "WARNING"}
    )
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fast_ses.py"), str(args.port)])  # noqa: S603
    try:
        time.sleep(0.5)
        import django

        django.setup()
        from mailer.ses import ses_client, ses_send_email_client
        from subscribers.mail import message_build

        raw = message_build(to="bench0@mail.example", subject="Hello", text="t" * 2000, html="<p>h</p>" * 3000)
        params = {
            "FromEmailAddress": "news@larkspur-lune.example",
            "Destination": {"ToAddresses": ["bench0@mail.example"]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": "send", "Value": "1"}, {"Name": "delivery", "Value": "123456"}],
            "ConfigurationSetName": "marketing",
        }
        client, ours = ses_client(), ses_send_email_client()
        boto_cpu, boto_wall = measure(lambda: client.send_email(**params), args.calls)
        our_cpu, our_wall = measure(lambda: ours.send_email(params), args.calls)
    finally:
        server.terminate()
    print(f"\nOne SendEmail call, {len(raw):,}-byte message, {args.calls:,} calls each, one process")
    print(f"  boto3 client:  {boto_cpu:7.0f} µs CPU   {boto_wall:7.0f} µs wall")
    print(f"  ses_http:      {our_cpu:7.0f} µs CPU   {our_wall:7.0f} µs wall")
    print(f"  ses_http uses {our_cpu / boto_cpu:.0%} of boto3's CPU per call ({boto_cpu - our_cpu:.0f} µs less)")


if __name__ == "__main__":
    main()
