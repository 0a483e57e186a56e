"""The public URL contract for customers (DESIGN.md section 5). These paths appear in sent emails: keep them."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from .views import accounts, policies, privacy, public

accounts_patterns = (
    [
        path("register/", accounts.register, name="register"),
        path("login/", accounts.EmailLoginView.as_view(), name="login"),
        path("logout/", LogoutView.as_view(), name="logout"),
        path("register/sent/", accounts.register_sent, name="register_sent"),
        path("password/reset/", accounts.PasswordResetRequestView.as_view(), name="password_reset"),
        path("password/reset/sent/", accounts.PasswordResetSentView.as_view(), name="password_reset_sent"),
        path("password/reset/done/", accounts.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
        path(
            "password/reset/<uidb64>/<token>/", accounts.NewPasswordView.as_view(), name="password_reset_confirm"
        ),
    ],
    "accounts",
)

account_patterns = (
    [
        path("", accounts.account_home, name="home"),
        path("details/", accounts.account_details, name="details"),
        path("newsletter/", accounts.account_newsletter, name="newsletter"),
        path("privacy/", privacy.account_privacy, name="privacy"),
        path("privacy/erase/", privacy.account_erase_view, name="erase"),
        path("privacy/erased/", privacy.account_erased, name="erased"),
        path("privacy/export/", privacy.account_export_request, name="export"),
        path("privacy/export/<str:token>/", privacy.account_export_download, name="export_download"),
        path("email/confirm/<str:token>/", accounts.email_change_confirm_view, name="email_confirm"),
        path("policy/acknowledge/", policies.policy_acknowledge, name="policy_acknowledge"),
    ],
    "account",
)

newsletter_patterns = (
    [
        path("subscribe/", public.subscribe, name="subscribe"),
        path("subscribe/thanks/", public.subscribe_thanks, name="subscribe_thanks"),
        path("confirm/<str:token>/", public.confirm, name="confirm"),
        path("unsubscribe/<str:token>/", public.unsubscribe, name="unsubscribe"),
        path("preferences/<str:token>/", public.preferences, name="preferences"),
    ],
    "newsletter",
)

# The privacy policy, public: the version in force and every other one, each at a stable address.
privacy_policy_patterns = (
    [
        path("", policies.privacy_policy, name="current"),
        path("<str:version>/", policies.privacy_policy_version, name="version"),
    ],
    "privacy_policy",
)
