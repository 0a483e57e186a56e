"""Open tracking, off unless a campaign turns it on: an invisible image whose loads are counted per send.

The image's token names only the send, so every recipient's copy is the same and a load says nothing about who
loaded it. The count runs high (Apple Mail Privacy Protection and mail scanners fetch every image), which the
campaign editor and the report both say.
"""

import base64
import re

from django.core import signing
from django.urls import reverse

from campaigns.errors import CampaignError
from campaigns.models import Send
from campaigns.results.tally import tally_open
from subscribers.links import absolute

OPEN_SALT = "campaigns.open"
# The smallest transparent GIF: 1 x 1 pixel.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class OpenTokenInvalid(CampaignError):
    """The image token was tampered with or made for another purpose."""


def open_pixel_add(*, send: Send, html: str) -> str:
    """The HTML with the tracking image just before ``</body>`` (or at the end when there is none)."""
    token = signing.Signer(salt=OPEN_SALT, sep=".").sign(str(send.pk))
    url = absolute(reverse("campaigns:open", args=[token]))
    image = f'<img src="{url}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">'
    ends = [m.start() for m in _BODY_END.finditer(html)]
    if not ends:
        return html + image
    return html[: ends[-1]] + image + html[ends[-1] :]


def open_count(*, token: str) -> None:
    """Count one load of a send's image; raises OpenTokenInvalid for a bad token."""
    try:
        send_id = int(signing.Signer(salt=OPEN_SALT, sep=".").unsign(token))
    except (signing.BadSignature, ValueError) as err:
        raise OpenTokenInvalid("The image token is not genuine.") from err
    tally_open(send_id=send_id)
