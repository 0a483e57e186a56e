"""The StreamField blocks a jeweller's campaign is made of. Each renders with a template under
``templates/emails/blocks/``: table-based, inline-styled HTML that survives real mail clients."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from wagtail import blocks
from wagtail.images.blocks import ImageChooserBlock

from campaigns.authoring.merge import LINK_FIELDS as LINK_MERGE_FIELDS
from campaigns.authoring.merge import MERGE_TAG


class LinkOrMergeFieldBlock(blocks.CharBlock):
    """A web address, or one of the personal links: {{ preferences_url }}, {{ unsubscribe_url }},
    {{ view_in_browser_url }}."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("help_text", "A web address, or {{ preferences_url }} / {{ view_in_browser_url }}.")
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value).strip()
        tag = MERGE_TAG.fullmatch(value)
        if tag:
            if tag.group(1) not in LINK_MERGE_FIELDS:
                raise ValidationError(f"{{{{ {tag.group(1)} }}}} is not a link; use one of the personal links.")
            return value
        URLValidator(schemes=["https", "http", "mailto"])(value)
        return value


class HeadingBlock(blocks.StructBlock):
    text = blocks.CharBlock(max_length=150)
    level = blocks.ChoiceBlock(choices=[("h1", "Large"), ("h2", "Medium"), ("h3", "Small")], default="h2")

    class Meta:
        icon = "title"
        template = "emails/blocks/heading.html"


class ImageBlock(blocks.StructBlock):
    image = ImageChooserBlock()
    alt = blocks.CharBlock(max_length=200, help_text="Describes the image for people who cannot see it.")
    link = blocks.URLBlock(required=False)

    class Meta:
        icon = "image"
        template = "emails/blocks/image.html"


class ProductCardBlock(blocks.StructBlock):
    image = ImageChooserBlock()
    alt = blocks.CharBlock(max_length=200)
    name = blocks.CharBlock(max_length=100)
    price = blocks.CharBlock(max_length=30, help_text="As it should read, for example £1,250.")
    link = blocks.URLBlock()

    class Meta:
        icon = "pick"
        template = "emails/blocks/product_card.html"


class CallToActionBlock(blocks.StructBlock):
    text = blocks.CharBlock(max_length=60)
    link = LinkOrMergeFieldBlock()

    class Meta:
        icon = "link"
        template = "emails/blocks/button.html"


class DividerBlock(blocks.StaticBlock):
    class Meta:
        icon = "minus"
        admin_text = "A thin line between sections."
        template = "emails/blocks/divider.html"


class SpacerBlock(blocks.StructBlock):
    height = blocks.IntegerBlock(min_value=8, max_value=96, default=24, help_text="Pixels of empty space.")

    class Meta:
        icon = "grip"
        template = "emails/blocks/spacer.html"


RICH_TEXT_FEATURES = ["bold", "italic", "link", "ol", "ul"]


class ColumnBlock(blocks.StreamBlock):
    heading = HeadingBlock()
    text = blocks.RichTextBlock(features=RICH_TEXT_FEATURES, template="emails/blocks/rich_text.html")
    image = ImageBlock()
    product = ProductCardBlock()
    button = CallToActionBlock()


class TwoColumnsBlock(blocks.StructBlock):
    left = ColumnBlock()
    right = ColumnBlock()

    class Meta:
        icon = "table"
        template = "emails/blocks/two_columns.html"
        help_text = "Side by side on wide screens; stacked on phones."


class CampaignBodyBlock(ColumnBlock):
    """Everything a column holds, plus the blocks that span the whole width."""

    two_columns = TwoColumnsBlock()
    divider = DividerBlock()
    spacer = SpacerBlock()
