"""Forms: validation and clear per-field messages only. They never write models; views call services."""

import re

import phonenumbers
from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from wagtail.admin.forms.auth import LoginForm as WagtailLoginForm

from . import fieldrules
from .addresses import email_normalise
from .fieldrules import RuleFieldsMixin
from .login_throttle import LoginRefusal, login_failure_record, login_failures_clear, login_refusal_for
from .models import Topic
from .tasks import password_reset_request_task
from .wording import EXPLICIT_RESUBSCRIBE, MARKETING_OPT_IN_HELP, MARKETING_OPT_IN_LABEL, THIRD_PARTY_OBJECTION

UK_POSTCODE = re.compile(r"^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2})$")


def postcode_clean(value: str) -> str:
    """Validate a UK postcode and return it in its usual form ("B18 6AA")."""
    compact = re.sub(r"\s+", "", value or "").upper()
    if not UK_POSTCODE.match(compact):
        raise forms.ValidationError("Enter a valid UK postcode, for example B18 6AA.", code="postcode")
    return f"{compact[:-3]} {compact[-3:]}"


def telephone_clean(value: str) -> str:
    """Validate a telephone number (UK numbers may omit +44) and return it in E.164 form."""
    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException as err:
        raise forms.ValidationError(
            "Enter a valid telephone number, for example 0121 496 0000 or 07911 123456.", code="telephone"
        ) from err
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in (phonenumbers.ValidationResult.TOO_SHORT, phonenumbers.ValidationResult.INVALID_LENGTH):
        raise forms.ValidationError("That telephone number is too short: check the digits.", code="telephone")
    if reason == phonenumbers.ValidationResult.TOO_LONG:
        raise forms.ValidationError("That telephone number is too long: check the digits.", code="telephone")
    if not phonenumbers.is_valid_number(number):
        raise forms.ValidationError(
            "That telephone number does not exist. Check the area code and the number of digits.",
            code="telephone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class EmailAddressField(forms.EmailField):
    """An email field that trims and lower-cases what it accepts."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        kwargs.setdefault("error_messages", {"invalid": "Enter a valid email address, like name@example.com."})
        super().__init__(**kwargs)

    def clean(self, value):
        return email_normalise(super().clean(value))


class ProfileFieldsMixin(RuleFieldsMixin, forms.Form):
    """Name, telephone and postal address with the shop's validation, shared by registration and details."""

    first_name = forms.CharField(label="First name", max_length=150)
    last_name = forms.CharField(label="Last name", max_length=150)
    telephone = forms.CharField(
        label="Telephone", max_length=32, widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"})
    )
    address_line1 = forms.CharField(
        label="Address line 1", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "address-line1"})
    )
    address_line2 = forms.CharField(
        label="Address line 2",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    town = forms.CharField(
        label="Town or city", max_length=60, widget=forms.TextInput(attrs={"autocomplete": "address-level2"})
    )
    county = forms.CharField(label="County", max_length=60, required=False)
    postcode = forms.CharField(
        label="Postcode", max_length=10, widget=forms.TextInput(attrs={"autocomplete": "postal-code"})
    )

    field_rules = fieldrules.PERSON_RULES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["first_name"].widget.attrs["autocomplete"] = "given-name"
        self.fields["last_name"].widget.attrs["autocomplete"] = "family-name"

    def clean_telephone(self):
        return telephone_clean(self.cleaned_data["telephone"])

    def clean_postcode(self):
        return postcode_clean(self.cleaned_data["postcode"])


class RegistrationForm(ProfileFieldsMixin):
    email = EmailAddressField(label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters, not a common password.",
    )
    password2 = forms.CharField(
        label="Confirm password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    marketing_opt_in = forms.BooleanField(
        label=MARKETING_OPT_IN_LABEL, help_text=MARKETING_OPT_IN_HELP, required=False, initial=False
    )

    field_order = [
        "first_name",
        "last_name",
        "email",
        "telephone",
        "address_line1",
        "address_line2",
        "town",
        "county",
        "postcode",
        "password1",
        "password2",
        "marketing_opt_in",
    ]

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords do not match.")
        elif password1:
            try:
                password_validation.validate_password(password1)
            except forms.ValidationError as err:
                self.add_error("password1", err)
        return cleaned


class DetailsForm(ProfileFieldsMixin):
    """Correct name, telephone and address."""


class EmailChangeForm(forms.Form):
    new_email = EmailAddressField(label="New email address")
    password = forms.CharField(label="Current password", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        if not self.user.check_password(self.cleaned_data["password"]):
            raise forms.ValidationError("That is not your current password.", code="password")
        return self.cleaned_data["password"]

    def clean_new_email(self):
        email = self.cleaned_data["new_email"]
        if email == self.user.email:
            raise forms.ValidationError("That is already your email address.", code="same")
        return email


class LoginThrottleFormMixin:
    """For a login form (an ``AuthenticationForm``): refuse while the address or the client is cooling down
    after too many failures, and count each failure (see ``login_throttle``).

    A refused attempt is not authenticated at all; ``refusal`` tells the view to answer 429.
    """

    refusal: LoginRefusal | None = None

    def clean(self):
        email = self.cleaned_data.get("username") or ""
        ip = self.request.META.get("REMOTE_ADDR") if self.request else None
        self.refusal = login_refusal_for(email=email, ip=ip)
        if self.refusal:
            raise forms.ValidationError(self.refusal.message, code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError as err:
            if err.code == "invalid_login":
                self.refusal = login_failure_record(email=email, ip=ip)
                if self.refusal:
                    raise forms.ValidationError(self.refusal.message, code="throttled") from err
            raise
        login_failures_clear(email=email)
        return cleaned


class EmailLoginForm(LoginThrottleFormMixin, AuthenticationForm):
    username = EmailAddressField(
        label="Email address", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email address and password do not match an account.",
    }


class AdminLoginForm(LoginThrottleFormMixin, WagtailLoginForm):
    """Wagtail's admin login form with the same limits on password guessing (WAGTAILADMIN_USER_LOGIN_FORM)."""


class PasswordResetRequestForm(PasswordResetForm):
    """The address to send a reset link to. Saving only queues the work: the lookup and the email happen in a
    task, so the answer is the same, and takes the same time, whether or not an account has the address."""

    email = EmailAddressField(label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))

    def save(self, **kwargs) -> None:
        # Django's own save() would send through send_mail; ours goes through the transactional path.
        password_reset_request_task.delay(email=self.cleaned_data["email"])


class NewPasswordForm(SetPasswordForm):
    """Choose a new password from a reset link; saving calls the service (which also ends the cool-down)."""

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.fields["new_password1"].label = "New password"
        self.fields["new_password1"].help_text = "At least 10 characters, not a common password."
        self.fields["new_password2"].label = "Confirm new password"

    def save(self, commit: bool = True):
        from .services import account_password_set

        return account_password_set(user=self.user, password=self.cleaned_data["new_password1"])


class PreferencesForm(forms.Form):
    """One tick box per topic ("General Subscription" first) and the third-party objection."""

    third_party_objection = forms.BooleanField(label=THIRD_PARTY_OBJECTION, required=False)

    def __init__(self, *args, topics: list[Topic], **kwargs):
        super().__init__(*args, **kwargs)
        self.topics = topics
        topic_fields = {
            f"topic_{t.pk}": forms.BooleanField(label=t.name, help_text=t.description, required=False) for t in topics
        }
        self.fields = {**topic_fields, "third_party_objection": self.fields["third_party_objection"]}

    def topic_fields(self):
        return [self[f"topic_{t.pk}"] for t in self.topics]

    def wanted_topics(self) -> set[Topic]:
        return {t for t in self.topics if self.cleaned_data.get(f"topic_{t.pk}")}


class PublicSubscribeForm(RuleFieldsMixin, forms.Form):
    email = EmailAddressField(label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    first_name = forms.CharField(label="First name (optional)", max_length=150, required=False)

    field_rules = {"first_name": fieldrules.FIRST_NAME}


class ResendConfirmationForm(forms.Form):
    email = EmailAddressField(label="Email address")


class ConfirmForm(forms.Form):
    explicit_resubscribe = forms.BooleanField(label=EXPLICIT_RESUBSCRIBE, required=False)


class UnsubscribeForm(RuleFieldsMixin, forms.Form):
    SCOPE_TOPIC = "topic"
    SCOPE_ALL = "all"
    REASONS = [
        ("", "Prefer not to say"),
        ("too_many", "Too many emails"),
        ("not_relevant", "Not relevant to me"),
        ("never_signed_up", "I never signed up"),
        ("other", "Another reason"),
    ]

    scope = forms.ChoiceField(
        choices=[(SCOPE_TOPIC, "Only this list"), (SCOPE_ALL, "Everything: all marketing email")],
        initial=SCOPE_TOPIC,
        widget=forms.RadioSelect,
        required=False,
    )
    reason = forms.ChoiceField(choices=REASONS, required=False, label="Why are you leaving? (optional)")
    reason_text = forms.CharField(
        max_length=200, required=False, label="Anything to add? (optional)", widget=forms.TextInput
    )

    field_rules = {"reason_text": fieldrules.UNSUBSCRIBE_REASON}

    def reason_summary(self) -> str:
        return " ".join(filter(None, [self.cleaned_data.get("reason"), self.cleaned_data.get("reason_text")]))


class AccountEraseForm(forms.Form):
    """Erasing an account: the current password, and a tick that the consequences were read."""

    password = forms.CharField(label="Current password", strip=False, widget=forms.PasswordInput)
    understood = forms.BooleanField(
        label="I understand that this removes my account and cannot be undone.",
        error_messages={"required": "Tick the box to confirm you have read what erasing your account means."},
    )

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        if not self.user.check_password(self.cleaned_data["password"]):
            raise forms.ValidationError("That is not your current password.", code="password")
        return self.cleaned_data["password"]
