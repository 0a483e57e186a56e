"""Registration, login and logout, and the logged-in Account Home pages."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import (
    LoginView,
    PasswordResetConfirmView,
    PasswordResetDoneView,
    PasswordResetView,
)
from django.contrib.auth.views import PasswordResetCompleteView as DjangoPasswordResetCompleteView
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited
from wagtail.admin.views.account import LoginView as WagtailLoginView

from ..forms import (
    DetailsForm,
    EmailChangeForm,
    EmailLoginForm,
    NewPasswordForm,
    PasswordResetRequestForm,
    PreferencesForm,
    RegistrationForm,
)
from ..models import ConsentSource, SubscriptionStatus
from ..selectors import (
    account_subscriber,
    address_proof_opt_ins,
    policy_notice_for,
    policy_version_current,
    subscriptions_for_subscriber,
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
from ..services.passwords import password_reset_hours
from ..tokens import TokenExpired, TokenInvalid
from .helpers import client_ip, posted, posted_address
from .preferences import preferences_form_save, preferences_initial

# What the "check your inbox" page after registering shows: the address typed and whether the box was ticked.
REGISTERED_SESSION_KEY = "registration_sent"


def _email_sending_limited(request) -> bool:
    """Links sent from the account pages: a few an hour per account, so nobody can flood a mailbox."""
    return is_ratelimited(
        request, group="account-email", key="user", rate=settings.ACCOUNT_EMAIL_RATE, method="POST", increment=True
    )


def _registration_limited(request, *, email: str) -> bool:
    """Registrations send an email whether or not the address has an account: per client IP, and per
    address as the other account emails are. Both move for known and unknown addresses alike."""
    by_ip = is_ratelimited(
        request, group="register-ip", key="ip", rate=settings.REGISTER_RATE_PER_IP, method="POST", increment=True
    )
    by_address = is_ratelimited(
        request,
        group="register-address",
        key=lambda group, req: email,
        rate=settings.ACCOUNT_EMAIL_RATE,
        method="POST",
        increment=True,
    )
    return by_ip or by_address


@require_http_methods(["GET", "POST"])
def register(request):
    """Registration. A valid form always lands on the same "check your inbox" page, whether the address is new
    (an account is made) or already has an account (its owner is told): nobody learns which it was."""
    if request.user.is_authenticated:
        return redirect("account:home")
    form = RegistrationForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if _registration_limited(request, email=data["email"]):
            return render(request, "newsletter/rate_limited.html", {"attempts": "registrations"}, status=429)
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
        account_register(details=details, ip=client_ip(request))
        request.session[REGISTERED_SESSION_KEY] = {"email": details.email, "opt_in": details.marketing_opt_in}
        return redirect("accounts:register_sent")
    return render(request, "accounts/register.html", {"form": form})


def register_sent(request):
    """Where every registration lands: check your inbox (the same page for a new and a known address)."""
    registered = request.session.get(REGISTERED_SESSION_KEY) or {}
    return render(request, "accounts/register_sent.html", {"registered": registered})


class LoginThrottleViewMixin:
    """For a LoginView whose form uses ``LoginThrottleFormMixin``: a refused login is answered 429 Too Many
    Requests with Retry-After, the form showing why."""

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if getattr(form, "refusal", None):
            response.status_code = 429
            response["Retry-After"] = str(form.refusal.retry_after)
        return response


class EmailLoginView(LoginThrottleViewMixin, LoginView):
    form_class = EmailLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class AdminLoginView(LoginThrottleViewMixin, WagtailLoginView):
    """Wagtail's admin login (its form is ours by WAGTAILADMIN_USER_LOGIN_FORM), answering 429 when refused."""


@method_decorator(never_cache, name="dispatch")
class PasswordResetRequestView(PasswordResetView):
    """Ask for a reset link. The same answer, a redirect to the "check your inbox" page, for any address."""

    form_class = PasswordResetRequestForm
    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("accounts:password_reset_sent")

    def post(self, request, *args, **kwargs):
        by_ip = is_ratelimited(
            request, group="password-reset-ip", key="ip", rate=settings.PASSWORD_RESET_RATE_PER_IP,
            method="POST", increment=True,
        )
        by_address = is_ratelimited(
            request,
            group="password-reset-address",
            key=lambda group, req: posted_address(req),
            rate=settings.PASSWORD_RESET_RATE_PER_ADDRESS,
            method="POST",
            increment=True,
        )
        if by_ip or by_address:
            return render(request, "newsletter/rate_limited.html", {"attempts": "password reset requests"}, status=429)
        return super().post(request, *args, **kwargs)


class PasswordResetSentView(PasswordResetDoneView):
    template_name = "accounts/password_reset_sent.html"
    extra_context = {"expires_hours": password_reset_hours}


class NewPasswordView(PasswordResetConfirmView):
    """The link from the email: choose a new password (Django's view: the token leaves the URL at once)."""

    form_class = NewPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    extra_context = {"expires_hours": password_reset_hours}


class PasswordResetCompleteView(DjangoPasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


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
    opt_ins = address_proof_opt_ins(email=change.new_email, address_proof=change.nonce_hash) if verifying else []
    if request.method == "POST":
        try:
            email_change_confirm(token=token, ip=client_ip(request))
        except (TokenInvalid, AccountError) as err:
            return render(request, "account/email_confirm.html", {"error": str(err)}, status=400)
        if verifying:
            confirmed = f"Thank you: {change.new_email} is confirmed as your address."
            now_held = subscriptions_for_subscriber(subscriber=account_subscriber(user=change.user))
            active = SubscriptionStatus.ACTIVE
            started = [s.topic.name for s in opt_ins if getattr(now_held.get(s.topic_id), "status", None) == active]
            if started:
                confirmed += f" You will now receive: {', '.join(started)}."
            messages.success(request, confirmed)
        else:
            messages.success(request, f"Your email address is now {change.new_email}.")
        if request.user.is_authenticated:
            return redirect("account:home")
        messages.info(request, "Log in with your email address and password to see your account.")
        return redirect("accounts:login")
    return render(
        request,
        "account/email_confirm.html",
        {"change": change, "verifying": verifying, "opt_in_topics": [s.topic for s in opt_ins]},
    )


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
