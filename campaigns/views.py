"""Public campaign pages: the email as a web page (/email/<token>/), tracked links (/c/<token>/), the
open-tracking image (/o/<token>.gif), and the hook SES events arrive at through SNS (/hooks/ses/)."""

import logging
import uuid
from functools import wraps

from csp.decorators import csp_replace
from django.conf import settings
from django.core import signing
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe
from wagtail.models import Page, Revision

from campaigns.authoring.personalise import merge_values, view_in_browser_read
from campaigns.authoring.preview import EMAIL_PAGE_POLICY
from campaigns.authoring.rendering import campaign_render
from campaigns.feedback.events import FeedbackError, feedback_receive
from campaigns.feedback.sns import SnsFetchFailed, SnsVerificationError, sns_message_verify, sns_subscription_confirm
from campaigns.models import EmailPage
from campaigns.results.clicks import ClickError, click_follow
from campaigns.results.opens import PIXEL, OpenTokenInvalid, open_count
from subscribers.models import Subscription
from subscribers.selectors import active_topic_ids_by_subscriber

logger = logging.getLogger(__name__)
NEVER_STORED = "max-age=0, no-cache, no-store, must-revalidate, private"  # what never_cache writes


@require_GET
@csp_replace(EMAIL_PAGE_POLICY)
def view_in_browser(request, token: str):
    """The campaign as its recipient received it. The token is signed; it names no address."""
    try:
        page_id, revision_id, recipient = view_in_browser_read(token)
        # Any email page: a campaign, or an automation's email (the token names which, signed).
        page = Page.objects.get(pk=page_id).specific
        if not isinstance(page, EmailPage):
            raise Page.DoesNotExist
        # The revision that was sent, never a later draft; without one, the published page.
        if revision_id:
            page = page.revisions.get(pk=revision_id).as_object()
        elif not page.live:
            raise Page.DoesNotExist
        subscription = (
            None
            if recipient == "sample"
            else Subscription.objects.select_related("subscriber").get(public_id=uuid.UUID(hex=recipient))
        )
    except (
        signing.BadSignature,
        ValueError,
        Page.DoesNotExist,
        Revision.DoesNotExist,
        Subscription.DoesNotExist,
    ) as err:
        raise Http404("This email is no longer available.") from err
    rendered = campaign_render(page=page)
    topic_ids = None
    if subscription is not None:  # the footer names the campaign's topics the recipient is subscribed to
        subscribed = active_topic_ids_by_subscriber(
            subscriber_ids=[subscription.subscriber_id], topic_ids=[topic_id for topic_id, _ in rendered.topics]
        )
        topic_ids = subscribed.get(subscription.subscriber_id)
    values = merge_values(rendered=rendered, subscription=subscription, topic_ids=topic_ids)
    response = HttpResponse(rendered.html.render(values))
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the URL is personal: do not pass it to linked sites
    return response


def _never_stored(view):
    """``never_cache``'s headers, as constants: Django builds them for each response (a date, and the Cache-Control
    header parsed and written again), a twentieth of a click redirect's CPU on the busiest public URLs."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = NEVER_STORED
        response["Expires"] = "0"  # HTTP/1.0 caches: an invalid date, read as already expired (RFC 9111, 5.3)
        return response

    return wrapped


@require_safe
@_never_stored
def click(request, token: str):
    """A tracked link: count the click and redirect to the address stored for that link of that send.

    The destination comes only from the database, never from the request (its path and Referer are ignored, and
    of the query string only the recipient key ``r`` is read), so this is no open redirect. A bad token or an
    unknown link is a plain 404, never a redirect. HEAD is answered like GET, and counted: link scanners use both
    (docs/campaigns.md).
    """
    try:
        # ``r``: the recipient's signed key, for the "clicked by unique recipients" rate; only ever read, never
        # followed. A recipient key is short: anything longer is not one.
        response = HttpResponseRedirect(click_follow(token=token, recipient_key=request.GET.get("r", "")[:100]))
    except ClickError as err:
        response = HttpResponseNotFound(f"{err}\n", content_type="text/plain; charset=utf-8")
    # _never_stored marks both answers no-store and private, so no proxy replays a redirect without counting it.
    response["Referrer-Policy"] = "no-referrer"  # the destination need not learn the tracked address
    response["X-Robots-Tag"] = "noindex"
    return response


@require_safe
@_never_stored
def open_image(request, token: str):
    """The open-tracking image: a transparent pixel, counted for its send (never for a person)."""
    try:
        open_count(token=token)
    except OpenTokenInvalid:
        return HttpResponseNotFound("Not found.\n", content_type="text/plain")
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt
@require_POST
def ses_hook(request):
    """SES events through SNS (docs/feedback.md). Nothing is believed or written until the message is verified.

    200: stored (or a duplicate, or a subscription confirmed). 400: refused, with nothing written and a warning
    logged. 503: a certificate or confirmation fetch failed on our side; SNS delivers again later.
    """
    limit = settings.SNS_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _hook_refused(f"Body of {declared} bytes is larger than the {limit} allowed")
    body = request.read(limit + 1)  # never more than the limit, whatever the headers said
    try:
        message = sns_message_verify(body=body, message_type_header=request.headers.get("x-amz-sns-message-type"))
        if message["Type"] == "SubscriptionConfirmation":
            sns_subscription_confirm(message=message)
            logger.info("Confirmed the SNS subscription to %s.", message["TopicArn"])
        elif message["Type"] == "UnsubscribeConfirmation":
            logger.warning("SNS says the subscription to %s was removed; feedback stops.", message["TopicArn"])
        elif feedback_receive(sns_message=message) is None:
            logger.info("SNS message %s is a duplicate; processed once already.", message["MessageId"])
    except SnsFetchFailed as err:
        logger.warning("SES hook: %s", err.reason)
        return HttpResponse("Try again later.\n", status=503, content_type="text/plain")
    except (SnsVerificationError, FeedbackError) as err:
        return _hook_refused(getattr(err, "reason", str(err)))
    return HttpResponse("OK\n", content_type="text/plain")


def _hook_refused(reason: str) -> HttpResponse:
    logger.warning("SES hook refused a request: %s", reason)
    return HttpResponseBadRequest("Refused.\n", content_type="text/plain")
