"""Admin for attributes (HTTP only): Subscribers > Attributes (list, declare, edit, delete, each through the
attribute services, which check the permission and write the audit log), and a subscriber's attribute values, shown
on their page and changed with a form that fits each type (a date picker, a number, a yes/no select, a select of the
choices).

Deleting an attribute people hold values of shows their count and posts it back: the service refuses when the count
has changed since the page was shown, so nobody deletes more than they were told.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html_join
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.ui.tables import Column
from wagtail.admin.views.generic.models import CreateView, DeleteView, EditView, InspectView
from wagtail.admin.viewsets.model import ModelViewSet

from .. import permissions
from ..attribute_users import attribute_users
from ..attributevalues import attribute_value_text
from ..models import Attribute, AttributeType, Subscriber
from ..selectors import attributes_declared, subscriber_attribute_values
from ..services.attributes import (
    AttributeDeclarationError,
    AttributeInUse,
    AttributeUsed,
    AttributeValuesInvalid,
    attribute_declare,
    attribute_delete,
    attribute_update,
    attribute_uses_described,
    attribute_values_count,
    subscriber_attributes_set,
)

ANSWERS = [("", "—"), ("yes", "Yes"), ("no", "No")]


class ChoicesField(forms.CharField):
    """The choices of "one of a list", one a line in a text box; the value is the list of lines."""

    widget = forms.Textarea(attrs={"rows": 5})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class AttributeForm(WagtailAdminModelForm):
    """Declaring an attribute, or changing one: its key and type cannot change once declared (CSV files, API
    clients and segments name them). The rules are the services'; their refusals are shown beside the field."""

    choices = ChoicesField(
        required=False,
        help_text="For “one of a list” only: the values allowed, one a line, in the order offered. A choice that "
        "subscribers hold, or that a segment names, cannot be removed.",
    )

    class Meta:
        model = Attribute
        fields = ["key", "label", "type", "choices", "position"]
        help_texts = {
            "key": "Lower-case letters, digits and underscores: the CSV column and the API field. It cannot be "
            "changed later.",
            "position": "Attributes are listed by position, then label.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ("key", "type"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Cannot be changed once declared."

    def _validate_unique(self):  # the service says so, with a clearer message
        pass

    def validate_unique(self):
        pass


def _refused(view, form, err: AttributeDeclarationError):
    form.add_error(err.field if err.field in form.fields else None, str(err))
    # Set by Wagtail's post() only when the form's own checks fail; the service's refusal comes after them.
    view.produced_error_message = view.get_error_message()
    return view.form_invalid(form)


class AttributeCreateView(CreateView):
    page_title = "Declare an attribute"

    def form_valid(self, form):
        self.form = form
        data = form.cleaned_data
        try:
            self.object = attribute_declare(
                key=data["key"], label=data["label"], type=data["type"], choices=data["choices"],
                position=data.get("position") or 0, actor=self.request.user,
            )
        except AttributeDeclarationError as err:
            return _refused(self, form, err)
        return self.save_action()


class AttributeEditView(EditView):
    def form_valid(self, form):
        self.form = form
        data = form.cleaned_data
        try:
            self.object = attribute_update(
                attribute=self.object, label=data["label"], position=data.get("position") or 0,
                choices=data["choices"] if self.object.type == AttributeType.CHOICE else None, actor=self.request.user,
            )
        except AttributeDeclarationError as err:
            return _refused(self, form, err)
        return self.save_action()


class AttributeDeleteView(DeleteView):
    """Deleting shows how many subscribers hold a value, and deletes only if that is still the count."""

    template_name = "subscribers/admin/attribute_confirm_delete.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["values_count"] = attribute_values_count(attribute=self.object)
        context["uses"] = self.uses
        return context

    @cached_property
    def uses(self) -> list[str]:
        return attribute_users(self.object)

    @property
    def confirmation_message(self):
        if self.uses:
            return attribute_uses_described(attribute=self.object, uses=self.uses)
        count = attribute_values_count(attribute=self.object)
        if not count:
            return f"No subscriber holds a value of “{self.object.label}”. Delete it?"
        return (
            f"{count} subscriber{'s hold' if count != 1 else ' holds'} a value of “{self.object.label}”. Deleting the "
            f"attribute deletes {'those values' if count != 1 else 'that value'} too, and cannot be undone."
        )

    def form_valid(self, form):
        try:
            confirmed = int(self.request.POST.get("values_confirmed", "0"))
        except ValueError:
            confirmed = 0
        try:
            attribute_delete(attribute=self.object, values_confirmed=confirmed, actor=self.request.user)
        except (AttributeInUse, AttributeUsed) as err:
            messages.error(self.request, str(err))
            return redirect(self.get_delete_url())
        messages.success(self.request, f"Attribute “{self.object.label}” deleted.")
        return redirect(self.get_success_url())


def _choices_shown(attribute: Attribute) -> str:
    return ", ".join(attribute.choices) if attribute.choices else "—"


class AttributeViewSet(ModelViewSet):
    model = Attribute
    name = "attributes"
    url_prefix = "attributes"
    icon = "tag"
    menu_label = "Attributes"
    add_view_class = AttributeCreateView
    edit_view_class = AttributeEditView
    delete_view_class = AttributeDeleteView
    copy_view_enabled = False
    list_display = [
        "label",
        "key",
        Column("type", label="Type", accessor="get_type_display"),
        Column("choices", label="Choices", accessor=_choices_shown),
        "position",
    ]
    search_fields = ["key", "label"]

    def get_form_class(self, for_update=False):
        return AttributeForm


# A subscriber's values --------------------------------------------------------------------------------------------


def _value_field(attribute: Attribute) -> forms.Field:
    """A form field that fits the attribute's type; every one may be left empty (no value)."""
    label, required = attribute.label, False
    if attribute.type == AttributeType.NUMBER:
        return forms.DecimalField(
            label=label, required=required, max_digits=24, decimal_places=6,
            widget=forms.NumberInput(attrs={"step": "any"}),
        )
    if attribute.type == AttributeType.DATE:
        # A date input reads only YYYY-MM-DD, whatever the site's own date format.
        picker = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        return forms.DateField(label=label, required=required, widget=picker)
    if attribute.type == AttributeType.BOOLEAN:
        return forms.ChoiceField(label=label, required=required, choices=ANSWERS)
    if attribute.type == AttributeType.CHOICE:
        offered = [("", "—")] + [(choice, choice) for choice in attribute.choices]
        return forms.ChoiceField(label=label, required=required, choices=offered)
    return forms.CharField(label=label, required=required, max_length=255)


def _initial(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


class SubscriberAttributesForm(forms.Form):
    """One field per declared attribute, named by its key."""

    def __init__(self, *args, attributes: list[Attribute], **kwargs):
        super().__init__(*args, **kwargs)
        for attribute in attributes:
            field = _value_field(attribute)
            # The page carries each value as it was shown (a hidden "initial-<key>"), so that ``changed_data`` is
            # what this person changed, not what someone else (the API, an import) set since the page was opened.
            field.show_hidden_initial = True
            self.fields[attribute.key] = field


def may_view_values(user) -> bool:
    return user.has_perm(permissions.ATTRIBUTE_VALUES_VIEW)


def may_change_values(user) -> bool:
    """Changing values shows them first: both permissions."""
    return may_view_values(user) and user.has_perm(permissions.ATTRIBUTE_VALUES_CHANGE)


def subscriber_attributes_edit(request, subscriber_id: int):
    """A subscriber's attribute values: a form with a field per attribute; the fields changed on the page are saved
    through the service, all or nothing, each problem shown beside its field."""
    if not may_change_values(request.user):
        raise PermissionDenied
    subscriber = get_object_or_404(Subscriber, pk=subscriber_id)
    attributes = list(attributes_declared())
    current = subscriber_attribute_values(subscriber=subscriber)
    initial = {key: _initial(value) for key, value in current.items()}
    form = SubscriberAttributesForm(request.POST or None, attributes=attributes, initial=initial)
    if request.method == "POST" and form.is_valid():
        # Only the fields changed on the page: saving must not put back a value that changed meanwhile elsewhere.
        values = {key: ("" if form.cleaned_data[key] is None else form.cleaned_data[key]) for key in form.changed_data}
        try:
            changed = subscriber_attributes_set(
                subscriber=subscriber, values=values, actor=request.user, source="admin"
            )
        except AttributeValuesInvalid as err:
            for key, problem in err.problems.items():
                form.add_error(key if key in form.fields else None, problem)
        else:
            messages.success(
                request, f"Saved: {len(changed)} value{'s' if len(changed) != 1 else ''} changed." if changed
                else "Nothing changed."
            )
            return redirect(reverse("subscriber:inspect", args=[subscriber.pk]))
    return TemplateResponse(
        request,
        "subscribers/admin/subscriber_attributes.html",
        {
            "subscriber": subscriber,
            "form": form,
            # Each value as shown when the page was opened, sent back with it (SubscriberAttributesForm); Wagtail's
            # field template draws only the field itself.
            "shown_values": format_html_join("", "{}", ((field.as_hidden(only_initial=True),) for field in form)),
            "attributes": attributes,
            "inspect_url": reverse("subscriber:inspect", args=[subscriber.pk]),
            "page_title": "Attribute values",
            "page_subtitle": subscriber.email,
            "header_icon": "tag",
        },
    )


class SubscriberInspectView(InspectView):
    """A subscriber's page, with their attribute values and, for staff who may, a link to change them."""

    template_name = "subscribers/admin/subscriber_inspect.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # Values are shown to staff who may view them (subscribers.view_attributevalue), not to everyone who may
        # see the subscriber.
        context["may_view_values"] = may_view_values(self.request.user)
        if not context["may_view_values"]:
            return context
        values = subscriber_attribute_values(subscriber=self.object)
        context["attribute_rows"] = [
            (attribute.label, attribute_value_text(values[attribute.key]) if attribute.key in values else "—")
            for attribute in attributes_declared()
        ]
        if may_change_values(self.request.user):
            context["attributes_edit_url"] = reverse("subscriber_attributes_edit", args=[self.object.pk])
        return context


admin_patterns = [
    path("subscriber-attributes/<int:subscriber_id>/", subscriber_attributes_edit, name="subscriber_attributes_edit"),
]
