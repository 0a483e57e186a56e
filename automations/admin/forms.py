"""The automation admin's forms (HTTP only): an automation's name, topic and trigger, and one step.

They check the shape of what was typed and say which field is wrong; the model's own rules (``clean``) and the
services decide the rest, and their refusals come back onto the field they name.
"""

from django import forms
from django.core.exceptions import ValidationError

from automations.models import (
    Automation,
    AutomationEmailPage,
    AutomationStep,
    AutomationTrigger,
    StepKind,
)
from campaigns.segments.models import Segment
from subscribers.models import Topic
from subscribers.models.attributes import Attribute, AttributeType

WEEKDAYS = list(enumerate(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
HOURS = [(hour, f"{hour:02d}:00") for hour in range(24)]
# The units a wait is typed in, and their length in seconds.
WAIT_UNITS = {"minutes": 60, "hours": 3600, "days": 86400, "seconds": 1}
WAIT_UNIT_CHOICES = [("minutes", "minutes"), ("hours", "hours"), ("days", "days"), ("seconds", "seconds")]
WAIT_MAX_SECONDS = 366 * 86400  # a year and a day: longer is surely a typing mistake
WAIT_BY_DURATION, WAIT_BY_WEEKDAY = "duration", "weekday"


class AutomationForm(forms.ModelForm):
    """Name, topic and trigger. The trigger's own fields are all on the form; those another trigger uses must be
    left empty (the model says which, naming the field)."""

    class Meta:
        model = Automation
        fields = [
            "name",
            "topic",
            "trigger",
            "trigger_attribute",
            "trigger_offset_days",
            "trigger_hour",
            "trigger_event",
        ]
        labels = {
            "name": "Name",
            "topic": "Topic",
            "trigger": "Who enters, and when",
            "trigger_attribute": "Date attribute",
            "trigger_offset_days": "Days after the date",
            "trigger_hour": "At this hour",
            "trigger_event": "Event name",
        }
        help_texts = {
            "name": "For your colleagues, such as “Welcome series”. Subscribers never see it.",
            "topic": (
                "The consent this automation mails under. Every email it sends needs an active subscription to this "
                "topic at the moment it is sent; anyone who leaves the topic leaves the automation."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topic"].queryset = Topic.objects.filter(is_active=True).order_by("position", "name")
        self.fields["topic"].empty_label = None
        self.fields["trigger_attribute"].queryset = Attribute.objects.filter(type=AttributeType.DATE).order_by(
            "position", "label"
        )
        self.fields["trigger_attribute"].empty_label = "(not a date trigger)"
        self.fields["trigger_attribute"].label_from_instance = lambda attribute: f"{attribute.label} ({attribute.key})"
        self.fields["trigger_hour"].widget = forms.Select(choices=HOURS)
        # Only a date trigger uses these two: left empty, they are on the day, at nine.
        self.fields["trigger_offset_days"].required = False
        self.fields["trigger_hour"].required = False
        self.fields["trigger"].widget = forms.RadioSelect(choices=AutomationTrigger.choices)

    def clean(self):
        cleaned = super().clean()
        trigger = cleaned.get("trigger")
        if cleaned.get("trigger_offset_days") is None and "trigger_offset_days" not in self.errors:
            cleaned["trigger_offset_days"] = 0
        if cleaned.get("trigger_hour") is None and "trigger_hour" not in self.errors:
            cleaned["trigger_hour"] = 9
        # Fields of another trigger are cleared rather than refused when they hold only their defaults, so that
        # switching a draft from a date to a confirmation trigger does not need three fields emptied by hand.
        if trigger != AutomationTrigger.DATE_ATTRIBUTE:
            cleaned["trigger_offset_days"] = 0
            if "trigger_hour" in cleaned:
                cleaned["trigger_hour"] = self.instance.trigger_hour if self.instance.pk else 9
        return cleaned


class StepForm(forms.Form):
    """One step. A wait is typed as an amount and a unit, or as a weekday and an hour; the email and segment lists
    offer what exists, with links beside them to write a new email or define a segment."""

    kind = forms.ChoiceField(label="What this step does", choices=StepKind.choices, widget=forms.RadioSelect)
    wait_by = forms.ChoiceField(
        label="Wait",
        required=False,
        choices=[(WAIT_BY_DURATION, "For a time"), (WAIT_BY_WEEKDAY, "Until a weekday and hour")],
        widget=forms.RadioSelect,
        initial=WAIT_BY_DURATION,
    )
    wait_amount = forms.IntegerField(label="How long", required=False, min_value=1)
    wait_unit = forms.ChoiceField(label="Unit", required=False, choices=WAIT_UNIT_CHOICES, initial="days")
    wait_weekday = forms.TypedChoiceField(
        label="Weekday", required=False, choices=[("", "—"), *WEEKDAYS], coerce=int, empty_value=None
    )
    wait_hour = forms.TypedChoiceField(
        label="Hour (the shop's time zone)", required=False, choices=[("", "—"), *HOURS], coerce=int, empty_value=None
    )
    email = forms.ModelChoiceField(
        label="Email",
        required=False,
        queryset=AutomationEmailPage.objects.none(),
        empty_label="(choose an email)",
        help_text="An automation email sends its published version; a draft-only email cannot be chosen.",
    )
    segment = forms.ModelChoiceField(
        label="Segment",
        required=False,
        queryset=Segment.objects.none(),
        empty_label="(choose a segment)",
        help_text="People this segment does not select leave the automation at this step.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].queryset = AutomationEmailPage.objects.order_by("title")
        self.fields["email"].label_from_instance = lambda page: page.title if page.live else f"{page.title} (draft)"
        self.fields["segment"].queryset = Segment.objects.order_by("name")

    @classmethod
    def initial_for(cls, step: AutomationStep) -> dict:
        """The form's values for an existing step: its wait in the largest unit that divides it."""
        initial = {"kind": step.kind, "email": step.email_id, "segment": step.segment_id}
        if step.wait_seconds is not None:
            seconds = step.wait_seconds
            unit = next(name for name in ("days", "hours", "minutes", "seconds") if seconds % WAIT_UNITS[name] == 0)
            initial.update(wait_by=WAIT_BY_DURATION, wait_amount=step.wait_seconds // WAIT_UNITS[unit], wait_unit=unit)
        elif step.wait_weekday is not None:
            initial.update(wait_by=WAIT_BY_WEEKDAY, wait_weekday=step.wait_weekday, wait_hour=step.wait_hour)
        return initial

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == StepKind.WAIT:
            if cleaned.get("wait_by") == WAIT_BY_WEEKDAY:
                for field in ("wait_weekday", "wait_hour"):
                    if cleaned.get(field) is None:
                        self.add_error(field, "Choose the weekday and the hour to wait until.")
            elif cleaned.get("wait_amount") is None:
                if "wait_amount" not in self.errors:
                    self.add_error("wait_amount", "Say how long to wait, such as 3 days.")
            else:
                seconds = cleaned["wait_amount"] * WAIT_UNITS[cleaned.get("wait_unit") or "days"]
                if seconds > WAIT_MAX_SECONDS:
                    self.add_error("wait_amount", "Wait at most a year and a day.")
        elif kind == StepKind.EMAIL:
            email = cleaned.get("email")
            if email is None:
                self.add_error("email", "Choose the email this step sends.")
            elif not email.live:
                self.add_error(
                    "email", f"“{email.title}” is a draft: publish it first, so the step has a version to send."
                )
        elif kind == StepKind.CONDITION and cleaned.get("segment") is None:
            self.add_error("segment", "Choose the segment people must match to go on.")
        return cleaned

    def step_fields(self) -> dict:
        """The step's model fields from the cleaned form: those of its kind set, all others empty."""
        data = self.cleaned_data
        kind = data["kind"]
        fields = dict.fromkeys(("wait_seconds", "wait_weekday", "wait_hour", "email", "segment"))
        fields["kind"] = kind
        if kind == StepKind.WAIT:
            if data.get("wait_by") == WAIT_BY_WEEKDAY:
                fields.update(wait_weekday=data["wait_weekday"], wait_hour=data["wait_hour"])
            else:
                fields["wait_seconds"] = data["wait_amount"] * WAIT_UNITS[data.get("wait_unit") or "days"]
        elif kind == StepKind.EMAIL:
            fields["email"] = data["email"]
        elif kind == StepKind.CONDITION:
            fields["segment"] = data["segment"]
        return fields


def validation_errors_onto(form: forms.Form, err: ValidationError) -> None:
    """A model's or service's ``ValidationError`` onto the form: on the field it names when the form has it, else
    above the form."""
    if hasattr(err, "error_dict"):
        for field, errors in err.message_dict.items():
            target = field if field in form.fields else None
            if field == "wait_seconds" and "wait_amount" in form.fields:
                target = "wait_amount"
            for message in errors:
                form.add_error(target, message)
    else:
        for message in err.messages:
            form.add_error(None, message)
