"""Template helpers for email HTML: absolute URLs and image sizes for fixed email widths."""

from django import template
from django.conf import settings

register = template.Library()


@register.filter
def absolute(url: str) -> str:
    """Email clients have no base URL: every link and image must be absolute."""
    if not url or url.startswith(("http://", "https://", "mailto:", "{{")):
        return url
    return f"{settings.SITE_URL}{url}"


@register.simple_tag
def email_image(image, width: int):
    """A rendition at twice the display width (sharp on high-density screens) and the display size."""
    rendition = image.get_rendition(f"width-{width * 2}")
    height = round(rendition.height * width / rendition.width)
    return {"url": absolute(rendition.url), "width": width, "height": height}
