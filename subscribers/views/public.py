"""Pages reached without logging in: the public signup form and the links in emails.

GET never changes anything on these pages: mail scanners and link previews fetch every link in an email.
"""

import uuid

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from ..forms import ConfirmForm, PreferencesForm, PublicSubscribeForm, UnsubscribeForm
from ..links import preferences_url
from ..models import ConsentSource, Subscriber, Subscription, SubscriptionStatus
from ..selectors import (
    marketing_stopped,
    marketing_suppressions_needing_explicit_request,
    topics_offered,
    topics_receiving,
)
from ..services import (
    ConfirmationLinkUsed,
    ExplicitRequestRequired,
    confirmation_pending_for_token,
    confirmation_resend,
    subscriber_withdraw_all,
    subscription_confirm,
    subscription_withdraw,
    subscription_withdraw_one_click,
)
from ..tasks import public_signup_task
from ..tokens import PREFERENCES_SALT, UNSUBSCRIBE_SALT, TokenExpired, TokenInvalid, public_token_read
from ..wording import CONFIRM_BUTTON, EXPLICIT_RESUBSCRIBE, PUBLIC_SIGNUP, UNSUBSCRIBE
from .helpers import client_ip, posted, posted_address
from .preferences import preferences_form_save, preferences_initial


def _rate_limited(request) -> bool:
    """Per client IP and per address. Both counters move on every attempt, known address or not."""
    return _rate_limited_for(request, address_key=lambda group, req: posted_address(req))


def _rate_limited_for(request, *, address_key) -> bool:
    by_ip = is_ratelimited(
        request, group="subscribe-ip", key="ip", rate=settings.SUBSCRIBE_RATE_PER_IP, method="POST", increment=True
    )
    by_address = is_ratelimited(
        request,
        group="subscribe-address",
        key=address_key,
        rate=settings.SUBSCRIBE_RATE_PER_ADDRESS,
        method="POST",
        increment=True,
    )
    return by_ip or by_address


@require_http_methods(["GET", "POST"])
def subscribe(request):
    """Double opt-in signup. The answer is the same whatever we already know about the address."""
    form = PublicSubscribeForm(posted(request))
    if request.method == "POST":
        if _rate_limited(request):
            return render(request, "newsletter/rate_limited.html", status=429)
        if form.is_valid():
            # The work happens in a task, so the answer takes the same time whatever the address's state.
            public_signup_task.delay(
                email=form.cleaned_data["email"], first_name=form.cleaned_data["first_name"], ip=client_ip(request)
            )
            return redirect("newsletter:subscribe_thanks", permanent=False)
    return render(request, "newsletter/subscribe.html", {"form": form, "wording": PUBLIC_SIGNUP})


def subscribe_thanks(request):
    return render(request, "newsletter/subscribe_thanks.html")


def _confirm_problem(request, err: Exception):
    """A friendly page for a bad, expired or used link, offering a fresh confirmation email."""
    if isinstance(err, ConfirmationLinkUsed):
        return render(request, "newsletter/confirm_used.html", status=410)
    return render(
        request,
        "newsletter/confirm_invalid.html",
        {
            "expired": isinstance(err, TokenExpired),
            "form": PublicSubscribeForm(),
        },
        status=400,
    )


def _confirmation_resend(request, token: str):
    """The "send me a new link" button on an expired link's page: same topics, same address."""
    if _rate_limited_for(request, address_key=lambda group, req: f"resend:{token}"):
        return render(request, "newsletter/rate_limited.html", status=429)
    try:
        confirmation_resend(token=token, ip=client_ip(request))
    except (TokenInvalid, ConfirmationLinkUsed) as err:
        return _confirm_problem(request, err)
    return redirect("newsletter:subscribe_thanks")


@require_http_methods(["GET", "POST"])
def confirm(request, token: str):
    """GET shows what will be confirmed and a button; only POST confirms."""
    try:
        pending = confirmation_pending_for_token(token=token)
    except TokenExpired as err:
        if request.method == "POST" and "resend" in request.POST:
            return _confirmation_resend(request, token)
        return _confirm_problem(request, err)
    except (TokenInvalid, ConfirmationLinkUsed) as err:
        return _confirm_problem(request, err)
    subscriber = pending[0].subscriber
    needs_explicit = bool(marketing_suppressions_needing_explicit_request(email=subscriber.email))
    form = ConfirmForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            confirmed = subscription_confirm(
                token=token,
                source=ConsentSource.EMAIL_LINK,
                ip=client_ip(request),
                wording=EXPLICIT_RESUBSCRIBE if needs_explicit else CONFIRM_BUTTON,
                explicit_request=form.cleaned_data["explicit_resubscribe"],
            )
        except ExplicitRequestRequired as err:
            form.add_error("explicit_resubscribe", str(err))
        except (TokenInvalid, ConfirmationLinkUsed) as err:
            return _confirm_problem(request, err)
        else:
            return render(
                request,
                "newsletter/confirmed.html",
                {
                    "topics": [s.topic for s in confirmed],
                    "subscriber": subscriber,
                },
            )
    return render(
        request,
        "newsletter/confirm.html",
        {
            "topics": [s.topic for s in pending],
            "form": form,
            "needs_explicit": needs_explicit,
            "button": CONFIRM_BUTTON,
        },
    )


def _unsubscribe_public_id(token: str) -> uuid.UUID:
    try:
        return uuid.UUID(hex=public_token_read(token=token, salt=UNSUBSCRIBE_SALT))
    except (TokenInvalid, ValueError) as err:
        raise Http404("This unsubscribe link is not valid.") from err


def _subscription_for_unsubscribe_token(token: str) -> Subscription:
    try:
        return Subscription.objects.select_related("subscriber", "topic").get(public_id=_unsubscribe_public_id(token))
    except Subscription.DoesNotExist as err:
        raise Http404("This unsubscribe link is not valid.") from err


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """The unsubscribe page, and the RFC 8058 one-click endpoint at the same URL.

    A mailbox provider's one-click POST carries no cookies and no CSRF token; the signed token in the URL
    is the proof. Its answer is 200 with no redirect, whatever the state (https://www.rfc-editor.org/rfc/rfc8058).
    """
    if request.method == "POST" and request.POST.get("List-Unsubscribe") == "One-Click":
        if not subscription_withdraw_one_click(public_id=_unsubscribe_public_id(token), ip=client_ip(request)):
            raise Http404("This unsubscribe link is not valid.")
        return HttpResponse("You are unsubscribed.\n", content_type="text/plain; charset=utf-8")
    return _unsubscribe_page(request, token)


@csrf_protect
def _unsubscribe_page(request, token: str):
    subscription = _subscription_for_unsubscribe_token(token)
    form = UnsubscribeForm(posted(request))
    if request.method == "POST" and form.is_valid():
        source, ip, reason = ConsentSource.EMAIL_LINK, client_ip(request), form.reason_summary()
        if form.cleaned_data["scope"] == UnsubscribeForm.SCOPE_ALL:
            subscriber_withdraw_all(
                subscriber=subscription.subscriber, source=source, ip=ip, reason=reason, wording=UNSUBSCRIBE
            )
        else:
            subscription_withdraw(subscription=subscription, source=source, ip=ip, reason=reason, wording=UNSUBSCRIBE)
        return _unsubscribed_page(request, subscription, already=False)
    if subscription.status == SubscriptionStatus.UNSUBSCRIBED:
        # Opened again after it was done (often after the mailbox's own one-click button): say so, and offer the
        # way back, rather than a second "Unsubscribe" button that would do nothing.
        return _unsubscribed_page(request, subscription, already=True)
    return render(request, "newsletter/unsubscribe.html", {"subscription": subscription, "form": form})


def _unsubscribed_page(request, subscription: Subscription, *, already: bool):
    """What the address receives now: nothing more of this list, whatever else is left, and how to come back."""
    subscriber = subscription.subscriber
    everything = marketing_stopped(email=subscriber.email)
    return render(
        request,
        "newsletter/unsubscribed.html",
        {
            "subscription": subscription,
            "already": already,
            "everything": everything,
            "still_receiving": [] if everything else topics_receiving(subscriber=subscriber),
            "scope_all": UnsubscribeForm.SCOPE_ALL,
            "preferences_url": preferences_url(subscriber=subscriber),
        },
    )


@require_http_methods(["GET", "POST"])
def preferences(request, token: str):
    """The Newsletter Subscription page, reached from an email without logging in."""
    try:
        public_id = uuid.UUID(hex=public_token_read(token=token, salt=PREFERENCES_SALT))
        subscriber = Subscriber.objects.get(public_id=public_id)
    except (TokenInvalid, ValueError, Subscriber.DoesNotExist) as err:
        raise Http404("This link is not valid.") from err
    topics = list(topics_offered())
    form = PreferencesForm(posted(request), topics=topics, initial=preferences_initial(subscriber, topics))
    saved_message = None
    if request.method == "POST" and form.is_valid():
        saved_message = preferences_form_save(
            request, form=form, subscriber=subscriber, topics=topics, source=ConsentSource.PREFERENCE_CENTRE
        )
        form = PreferencesForm(topics=topics, initial=preferences_initial(subscriber, topics))
    return render(
        request,
        "newsletter/preferences.html",
        {
            "form": form,
            "subscriber": subscriber,
            "saved_message": saved_message,
        },
    )
