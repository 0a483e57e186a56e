"""CSS inlining, behind one function so the library can be swapped (DESIGN.md section 2)."""

import logging

from premailer import Premailer


def css_inline(html: str) -> str:
    """Copy the <style> rules onto the elements (mail clients drop <style>); keep the media queries."""
    return Premailer(
        html,
        keep_style_tags=True,
        strip_important=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        allow_network=False,
    ).transform()
