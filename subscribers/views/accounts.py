"""Registration, login and logout, and the logged-in Account Home pages."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from ..forms import DetailsForm, EmailChangeForm, EmailLoginForm, PreferencesForm, RegistrationForm
from ..models import ConsentSource
from ..selectors import (
    account_subscriber,
    policy_notice_for,
    policy_version_current,
    topics_offered,
)
from ..services import (
    AccountError,
    RegistrationDetails,
    account_email_verify_request,
    account_register,
    email_change_confirm,
    email_change_pending_for_token,
    email_change_request,
    profile_update,
)
from ..tokens import TokenExpired, TokenInvalid
from .helpers import client_ip, posted
from .preferences import preferences_form_save, preferences_initial


def _email_sending_limited(request) -> bool:
    """Links sent from the account pages: a few an hour per account, so nobody can flood a mailbox."""
    return is_ratelimited(
        request, group="account-email", key="user", rate=settings.ACCOUNT_EMAIL_RATE, method="POST", increment=True
    )


@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect("account:home")
    form = RegistrationForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        details = RegistrationDetails(
            email=data["email"],
            password=data["password1"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            telephone=data["telephone"],
            address_line1=data["address_line1"],
            address_line2=data["address_line2"],
            town=data["town"],
            county=data["county"],
            postcode=data["postcode"],
            marketing_opt_in=data["marketing_opt_in"],
        )
        try:
            user = account_register(details=details, ip=client_ip(request))
        except AccountError as err:
            form.add_error("email", str(err))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            welcome = f"Welcome! We have emailed {user.email} a link to confirm the address is yours."
            if details.marketing_opt_in:
                welcome += " A second email asks you to confirm our news and offers."
            messages.success(request, welcome)
            return redirect("account:home")
    return render(request, "accounts/register.html", {"form": form})


class EmailLoginView(LoginView):
    form_class = EmailLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


@login_required
def account_home(request):
    policy = policy_version_current()
    notice = policy_notice_for(user=request.user)
    return render(request, "account/home.html", {"policy": policy, "policy_notice": notice})


@login_required
@require_http_methods(["GET", "POST"])
def account_details(request):
    user = request.user
    profile = user.profile
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        **{
            f: getattr(profile, f)
            for f in ("telephone", "address_line1", "address_line2", "town", "county", "postcode")
        },
    }
    details_form = DetailsForm(initial=initial, prefix="details")
    email_form = EmailChangeForm(user=user, prefix="email")
    if request.method == "POST" and "details-first_name" in request.POST:
        details_form = DetailsForm(request.POST, initial=initial, prefix="details")
        if details_form.is_valid():
            changed = profile_update(user=user, changes=details_form.cleaned_data)
            messages.success(request, "Your details have been saved." if changed else "Nothing needed changing.")
            return redirect("account:details")
    elif request.method == "POST":
        email_form = EmailChangeForm(request.POST, user=user, prefix="email")
        if _email_sending_limited(request):
            return render(request, "newsletter/rate_limited.html", status=429)
        if email_form.is_valid():
            try:
                email_change_request(user=user, new_email=email_form.cleaned_data["new_email"])
            except AccountError as err:
                email_form.add_error("new_email", str(err))
            else:
                messages.info(
                    request,
                    f"We have sent a link to {email_form.cleaned_data['new_email']}. "
                    "Your email address changes when you click it.",
                )
                return redirect("account:details")
    return render(request, "account/details.html", {"details_form": details_form, "email_form": email_form})


@require_http_methods(["GET", "POST"])
def email_change_confirm_view(request, token: str):
    """GET shows a button and changes nothing (mail scanners fetch links); POST switches the address."""
    try:
        change = email_change_pending_for_token(token=token)
    except (TokenInvalid, AccountError) as err:
        return render(
            request,
            "account/email_confirm.html",
            {"error": str(err), "expired": isinstance(err, TokenExpired)},
            status=400,
        )
    verifying = change.new_email == change.user.email
    if request.method == "POST":
        try:
            email_change_confirm(token=token)
        except (TokenInvalid, AccountError) as err:
            return render(request, "account/email_confirm.html", {"error": str(err)}, status=400)
        if verifying:
            messages.success(request, f"Thank you: {change.new_email} is confirmed as your address.")
        else:
            messages.success(request, f"Your email address is now {change.new_email}.")
        return redirect("account:home" if request.user.is_authenticated else "accounts:login")
    return render(request, "account/email_confirm.html", {"change": change, "verifying": verifying})


@login_required
@require_http_methods(["GET", "POST"])
def account_newsletter(request):
    user = request.user
    subscriber = account_subscriber(user=user)
    if subscriber is None:
        # Until the account proves its address it controls no mailing-list record.
        if request.method == "POST":
            if _email_sending_limited(request):
                return render(request, "newsletter/rate_limited.html", status=429)
            account_email_verify_request(user=user)
            messages.info(request, f"We have sent a link to {user.email}. Click it, then come back here.")
            return redirect("account:newsletter")
        return render(request, "account/newsletter.html", {"needs_verification": True})
    topics = list(topics_offered())
    if request.method == "POST":
        form = PreferencesForm(request.POST, topics=topics)
        if form.is_valid():
            message = preferences_form_save(
                request, form=form, subscriber=subscriber, topics=topics, source=ConsentSource.ACCOUNT_PAGE
            )
            messages.success(request, message)
            return redirect("account:newsletter")
    else:
        form = PreferencesForm(initial=preferences_initial(subscriber, topics), topics=topics)
    return render(request, "account/newsletter.html", {"form": form, "subscriber": subscriber})
