"""The exact consent wording shown to people. The ledger stores a hash of what was on screen.

Change wording by adding a new constant rather than editing one in place, so old hashes stay explainable.
"""

import hashlib

MARKETING_OPT_IN_LABEL = "Email me news and offers"
MARKETING_OPT_IN_HELP = (
    "We will send a confirmation email first. You can unsubscribe at any time from the link at the bottom "
    "of every email or from your account."
)
MARKETING_OPT_IN = f"{MARKETING_OPT_IN_LABEL}. {MARKETING_OPT_IN_HELP}"
PUBLIC_SIGNUP = (
    "Send me news and offers by email. I will confirm my address from the email you send me, and I can "
    "unsubscribe at any time."
)
TOPIC_TICKBOX = "Tick a topic to receive it by email; untick it to stop at once."
THIRD_PARTY_OBJECTION = "Do not share my details with carefully selected third parties."
CONFIRM_BUTTON = "Yes, subscribe me"
EXPLICIT_RESUBSCRIBE = (
    "I previously asked not to receive marketing email from this address, or reported it as unwanted. "
    "I now ask to receive it again."
)
UNSUBSCRIBE = "Unsubscribe"
RESEND_BUTTON = "Send me a new link"


def wording_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
