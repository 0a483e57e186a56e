"""A demo campaign for the invented jeweller: every block type, with images drawn here (no downloads)."""

import io

from django.core.files.images import ImageFile
from PIL import Image as PILImage
from PIL import ImageDraw
from wagtail.images.models import Image
from wagtail.models import Site

from campaigns.models import BrandSettings, CampaignIndexPage, CampaignPage
from subscribers.models import Topic

SWATCHES = {
    "Aurora Ring": ("#d8c3a5", "#8e6c3a"),
    "Moonstone Pendant": ("#cfd8dc", "#5f7481"),
    "Hero: the winter collection": ("#2b2520", "#b89b5e"),
}


def _image(title: str) -> Image:
    """The demo image of this title, drawn here. One made on a database whose media folder is elsewhere (seeded on
    another machine, or by a run with a temporary folder) is drawn again into this one, with its old renditions
    forgotten, so that rendering the demo campaign never fails for a missing file."""
    existing = Image.objects.filter(title=title).first()
    if existing and existing.file.storage.exists(existing.file.name):
        return existing
    background, accent = SWATCHES[title]
    canvas = PILImage.new("RGB", (1200, 800), background)
    draw = ImageDraw.Draw(canvas)
    draw.ellipse((420, 220, 780, 580), outline=accent, width=36)
    draw.ellipse((560, 150, 640, 230), fill=accent)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    drawn = ImageFile(buffer, name=f"{title.lower().replace(' ', '-')}.png")
    if existing is None:
        return Image.objects.create(title=title, file=drawn)
    existing.renditions.all().delete()
    existing.file.save(drawn.name, drawn, save=False)
    existing.save()
    return existing


def campaign_index() -> CampaignIndexPage:
    """The one page that holds campaigns, under the default site's root page."""
    index = CampaignIndexPage.objects.first()
    if index is None:
        root = Site.objects.get(is_default_site=True).root_page
        index = root.add_child(instance=CampaignIndexPage(title="Campaigns", slug="campaigns"))
    return index


def demo_campaign() -> CampaignPage:
    """The winter collection announcement, created once."""
    existing = CampaignPage.objects.filter(slug="winter-collection").first()
    ring, pendant, hero = (_image(t) for t in SWATCHES)  # drawn again where their files are missing
    if existing:
        return existing
    brand = BrandSettings.load()
    shop = "https://shop.larkspur-lune.example"
    page = CampaignPage(
        title="Winter collection",
        slug="winter-collection",
        subject="{{ first_name|Hello }}, the winter collection is here",
        preheader="Hand-finished rings and pendants, in the workshop now.",
        sender=brand.default_sender or "Larkspur & Lune <hello@larkspur-lune.example>",
        body=[
            ("image", {"image": hero, "alt": "A gold ring on a dark background", "link": f"{shop}/winter"}),
            ("heading", {"text": "Made for the long evenings", "level": "h1"}),
            (
                "text",
                "<p>Dear {{ first_name|friend }},</p><p>Our winter collection has arrived in the workshop: "
                "warm gold, pale moonstones and a few pieces we will only make this season. "
                '<a href="https://shop.larkspur-lune.example/winter">See the whole collection</a>.</p>',
            ),
            (
                "two_columns",
                {
                    "left": [
                        (
                            "product",
                            {
                                "image": ring,
                                "alt": "The Aurora ring in yellow gold",
                                "name": "Aurora Ring",
                                "price": "£1,250",
                                "link": f"{shop}/aurora-ring",
                            },
                        )
                    ],
                    "right": [
                        (
                            "product",
                            {
                                "image": pendant,
                                "alt": "The Moonstone pendant on a fine chain",
                                "name": "Moonstone Pendant",
                                "price": "£680",
                                "link": f"{shop}/moonstone-pendant",
                            },
                        )
                    ],
                },
            ),
            ("button", {"text": "Shop the collection", "link": f"{shop}/winter"}),
            ("divider", None),
            ("heading", {"text": "Free engraving until Sunday", "level": "h3"}),
            ("text", "<p>Add up to twelve characters inside any ring, on us.</p>"),
            ("spacer", {"height": 16}),
        ],
    )
    campaign_index().add_child(instance=page)
    page.topics.set([Topic.objects.get(is_default=True)])
    page.save_revision().publish()
    return page
