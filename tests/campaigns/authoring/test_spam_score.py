"""The demo campaign, as one real subscriber receives it, passes Debian's SpamAssassin with local tests only.

SpamAssassin runs with ``--local`` (no DNS blocklists, Razor, Pyzor or DCC: CI has no network and their answers
change from day to day) and with Bayes off, so the score depends only on the message and the shipped rule set.
"""

import os
import re
import shutil
import subprocess

import pytest

from campaigns.authoring.personalise import campaign_message_build
from campaigns.authoring.rendering import campaign_render
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

SPAM_SCORE_LIMIT = 3.0
SPAMASSASSIN = shutil.which("spamassassin")
# Bayes would depend on whatever the user running the tests has trained; auto-learning would change that state.
SPAMASSASSIN_ARGS = ["--local", "--test-mode", "--nocreate-prefs", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0"]
SPAM_STATUS = re.compile(
    r"^X-Spam-Status: (?P<verdict>Yes|No), score=(?P<score>-?[\d.]+).*?tests=(?P<tests>.*?)\s+autolearn=",
    re.MULTILINE | re.DOTALL,
)


def spamassassin_check(raw_message: bytes, home) -> tuple[float, list[str], str]:
    """(score, names of the rules that hit, the full report) for one raw message."""
    result = subprocess.run(
        [SPAMASSASSIN, *SPAMASSASSIN_ARGS],
        input=raw_message,
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(home)},  # any per-user SpamAssassin state goes to a temporary home
    )
    output = result.stdout.decode("utf-8", "replace")
    header_block = output.split("\n\n", 1)[0]
    match = SPAM_STATUS.search(header_block)
    assert match, f"No X-Spam-Status header in SpamAssassin's output (exit {result.returncode}):\n" + (
        result.stderr.decode("utf-8", "replace")[-2000:] or output[:2000]
    )
    rules = [name.strip() for name in re.split(r",\s*", match.group("tests")) if name.strip() and name != "none"]
    report = output.rpartition("Content analysis details:")[2]
    return float(match.group("score")), rules, report.strip()


@pytest.mark.skipif(
    SPAMASSASSIN is None, reason="the spamassassin executable is not installed (apt install spamassassin)"
)
def test_demo_campaign_scores_below_three_with_spamassassin_local_tests(campaign, settings, tmp_path):
    # Given the demo campaign (every block type) rendered once, and one active subscriber, with links on an
    # https site as in production (the local default, http on port 8000, only adds SpamAssassin's WEIRD_PORT)
    settings.SITE_URL = "https://news.larkspur-lune.example"
    subscription = SubscriptionFactory(subscriber__first_name="Grace")
    rendered = campaign_render(page=campaign)

    # When the message that subscriber would receive is checked by SpamAssassin
    raw = campaign_message_build(rendered=rendered, to=subscription.subscriber.email, subscription=subscription)
    score, rules, report = spamassassin_check(raw, home=tmp_path)

    # Then it scores well below the usual spam threshold
    print(f"\nSpamAssassin score {score} (limit {SPAM_SCORE_LIMIT}); rules hit: {', '.join(rules) or 'none'}")
    print(report)
    assert score < SPAM_SCORE_LIMIT, f"SpamAssassin score {score}; rules hit: {', '.join(rules)}\n{report}"
