"""Public campaign pages: the email as a web page (/email/<token>/)."""

import uuid

from django.core import signing
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from wagtail.models import Revision

from subscribers.models import Subscription

from .models import CampaignPage
from .personalise import merge_values, view_in_browser_read
from .rendering import campaign_render


@require_GET
def view_in_browser(request, token: str):
    """The campaign as its recipient received it. The token is signed; it names no address."""
    try:
        page_id, revision_id, recipient = view_in_browser_read(token)
        page = CampaignPage.objects.get(pk=page_id)
        # The revision that was sent, never a later draft; without one, the published page.
        if revision_id:
            page = page.revisions.get(pk=revision_id).as_object()
        elif not page.live:
            raise CampaignPage.DoesNotExist
        subscription = (
            None
            if recipient == "sample"
            else Subscription.objects.select_related("subscriber").get(public_id=uuid.UUID(hex=recipient))
        )
    except (
        signing.BadSignature,
        ValueError,
        CampaignPage.DoesNotExist,
        Revision.DoesNotExist,
        Subscription.DoesNotExist,
    ) as err:
        raise Http404("This email is no longer available.") from err
    rendered = campaign_render(page=page)
    response = HttpResponse(rendered.html.render(merge_values(rendered=rendered, subscription=subscription)))
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the URL is personal: do not pass it to linked sites
    return response
