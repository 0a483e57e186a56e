"""The demo's welcome series for the invented jeweller: three emails on General Subscription, the first at once
after someone confirms, the next two after a wait each. Written with the campaign blocks, so they render, preview and
check like any campaign."""

from django.conf import settings

from automations import services
from automations.models import (
    Automation,
    AutomationEmailPage,
    AutomationState,
    AutomationStep,
    AutomationTrigger,
    StepKind,
)
from automations.pages import automation_email_create
from automations.selectors import steps_reached
from campaigns.models import BrandSettings
from subscribers.models import Topic

WELCOME_SERIES = "Welcome series"
SHOP = "https://shop.larkspur-lune.example"

WELCOME_EMAILS = (
    {
        "title": "Welcome 1: from our bench to your inbox",
        "slug": "welcome-1",
        "subject": "Welcome to Larkspur & Lune, {{ first_name|friend }}",
        "preheader": "A little about who we are, and what we will send you.",
        "body": [
            ("heading", {"text": "Welcome to the workshop", "level": "h1"}),
            (
                "text",
                "<p>Dear {{ first_name|friend }},</p><p>Thank you for confirming your subscription. We are a small "
                "workshop of goldsmiths: every ring, chain and pendant we sell is made and finished at our bench, "
                "and we hallmark every piece.</p><p>About twice a month we will write with new work, workshop "
                "evenings and the odd piece we make only once.</p>",
            ),
            ("button", {"text": "Visit the workshop", "link": f"{SHOP}/workshop"}),
            ("divider", None),
            ("heading", {"text": "What to expect from us", "level": "h3"}),
            (
                "text",
                "<p>Over the next few days we will send two more short notes: how we choose our stones, and how to "
                "look after gold and silver at home. You can change your topics or unsubscribe from any email.</p>",
            ),
        ],
    },
    {
        "title": "Welcome 2: how we choose our stones",
        "slug": "welcome-2",
        "subject": "{{ first_name|Hello }}, how we choose our stones",
        "preheader": "Moonstones, sapphires and garnets, and where they come from.",
        "body": [
            ("heading", {"text": "Stones we would wear ourselves", "level": "h1"}),
            (
                "text",
                "<p>Dear {{ first_name|friend }},</p><p>We buy our stones from three cutters we have worked with for "
                "years, and we ask each one where the rough came from. A moonstone is chosen for its blue sheen, a "
                "sapphire for an even colour, a garnet for its warmth in candlelight.</p>",
            ),
            (
                "two_columns",
                {
                    "left": [
                        ("heading", {"text": "Moonstone", "level": "h3"}),
                        ("text", "<p>Soft and luminous: best in a pendant, away from knocks.</p>"),
                    ],
                    "right": [
                        ("heading", {"text": "Sapphire", "level": "h3"}),
                        ("text", "<p>Hard enough for a ring you wear every day.</p>"),
                    ],
                },
            ),
            ("button", {"text": "See this season's stones", "link": f"{SHOP}/stones"}),
        ],
    },
    {
        "title": "Welcome 3: caring for your jewellery",
        "slug": "welcome-3",
        "subject": "Caring for gold and silver at home",
        "preheader": "Three habits that keep a piece bright for decades.",
        "body": [
            ("heading", {"text": "Looking after your pieces", "level": "h1"}),
            (
                "text",
                "<p>Dear {{ first_name|friend }},</p><ul><li>Put rings on after hand cream and perfume, not "
                "before.</li><li>Keep silver in a closed box with a strip of anti-tarnish paper.</li><li>Wash gold "
                "in warm water with a drop of washing-up liquid and a soft brush.</li></ul>",
            ),
            ("divider", None),
            ("heading", {"text": "Free cleaning and resizing", "level": "h3"}),
            (
                "text",
                "<p>Bring any piece bought from us, any year, and we will clean it and check its settings at no "
                "charge.</p>",
            ),
            ("button", {"text": "Book a visit", "link": f"{SHOP}/visit"}),
        ],
    },
)


def _email(spec: dict, sender: str) -> AutomationEmailPage:
    """The published email of ``spec``, made once (found again by its slug)."""
    existing = AutomationEmailPage.objects.filter(slug=spec["slug"]).first()
    if existing:
        return existing
    return automation_email_create(sender=sender, **spec)


def welcome_series(*, wait_seconds: int) -> Automation:
    """The welcome series, active, with waits of ``wait_seconds`` between its emails; made once. Run again, it
    keeps the automation and sets its waits to ``wait_seconds`` wherever nobody has reached them."""
    brand = BrandSettings.load()
    sender = brand.default_sender or settings.DEFAULT_FROM_EMAIL
    emails = [_email(spec, sender) for spec in WELCOME_EMAILS]
    automation = Automation.objects.filter(name=WELCOME_SERIES).first()
    if automation is None:
        automation = services.automation_create(
            user=None,
            name=WELCOME_SERIES,
            topic=Topic.objects.get(is_default=True),
            trigger=AutomationTrigger.TOPIC_CONFIRMED,
        )
        first, second, third = emails
        for fields in (
            {"kind": StepKind.EMAIL, "email": first},
            {"kind": StepKind.WAIT, "wait_seconds": wait_seconds},
            {"kind": StepKind.EMAIL, "email": second},
            {"kind": StepKind.WAIT, "wait_seconds": wait_seconds},
            {"kind": StepKind.EMAIL, "email": third},
        ):
            services.step_add(automation=automation, user=None, **fields)
    else:
        reached = steps_reached(automation=automation)
        waits = AutomationStep.objects.filter(automation=automation, kind=StepKind.WAIT).exclude(wait_seconds=None)
        for step in waits.exclude(pk__in=reached).exclude(wait_seconds=wait_seconds):
            services.step_update(step=step, user=None, kind=StepKind.WAIT, wait_seconds=wait_seconds)
    if automation.state == AutomationState.DRAFT:
        automation = services.automation_activate(automation=automation, user=None)
    return automation
