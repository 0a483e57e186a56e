"""Admin views (HTTP only) for webhooks: the endpoint list; add, change, rotate the secret, enable or disable, delete;
an endpoint's deliveries (newest first, paged by position, by state); a delivery's attempts and "Send again".

Every view needs ``webhooks.manage_webhooks`` (superusers have it); every change goes through ``webhooks.services``,
which checks it again. A secret is shown once: in the answer to the POST that made it, never on a page of its own.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.views.generic import TemplateView
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from subscribers.admin.paging import NEWEST_FIRST_LABELS, Keyset, KeysetRequest, listing_count
from subscribers.errors import ActionForbidden
from subscribers.models import Partner

from .. import selectors, services
from ..errors import WebhookError
from ..models import EVENT_TYPES, DeliveryState, WebhookDelivery, WebhookEndpoint
from ..permissions import user_may_manage

PAGE_SIZE = 50
# A busy endpoint has millions of deliveries: paged by position (subscribers/admin/paging.py), newest event first, as
# the selector orders them. An endpoint has one delivery per event, so the event alone is unique in the listing, and
# ``event_id < x`` starts the scan of the index by endpoint, state and event (or of the unique one on event and
# endpoint) at the position.
DELIVERIES_ORDER = Keyset(("-event_id",))


class EndpointForm(forms.Form):
    name = forms.CharField(label="Name", max_length=150, help_text="Whose system this is, such as “Shop CRM”.")
    url = forms.CharField(
        label="URL",
        max_length=500,
        help_text="Where events are posted (https://…). Private and local addresses are refused in production.",
    )
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[(name, f"{name}: {meaning}") for name, meaning in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    include_personal_data = forms.BooleanField(
        label="Include personal data",
        required=False,
        help_text="Add the address and first name to events about a person. Off: public ids only.",
    )
    is_partner = forms.BooleanField(
        label="Partner",
        required=False,
        help_text="A partner's system: a disclosure. It never receives events about people who objected to sharing, "
        "and each delivery with personal data is written to the disclosure log.",
    )
    partner = forms.ModelChoiceField(
        label="Which partner", queryset=Partner.objects.filter(is_active=True), required=False
    )

    def apply_error(self, err: WebhookError) -> None:
        self.add_error(err.field if err.field in self.fields else None, str(err))


class _WebhooksAdmin(WagtailAdminTemplateMixin, TemplateView):
    header_icon = "link"
    parents: tuple = ()

    def dispatch(self, request, *args, **kwargs):
        if not user_may_manage(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        items = [{"url": reverse("wagtailadmin_home"), "label": "Home"}]
        items += [{"url": url, "label": label} for url, label in self.parents]
        return [*items, {"url": "", "label": self.get_page_title()}]


def _index_crumb():
    return (reverse("webhooks_admin:index"), "Webhooks")


class EndpointIndexView(_WebhooksAdmin):
    template_name = "webhooks/admin/index.html"
    page_title = "Webhooks"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["endpoints"] = selectors.webhook_endpoints_list(user=self.request.user)
        return context


class EndpointCreateView(_WebhooksAdmin):
    template_name = "webhooks/admin/form.html"
    page_title = "Add a webhook endpoint"

    def get_breadcrumbs_items(self):
        self.parents = (_index_crumb(),)
        return super().get_breadcrumbs_items()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", EndpointForm())
        return context

    def post(self, request, *args, **kwargs):
        form = EndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint, secret = services.webhook_endpoint_create(user=request.user, **form.cleaned_data)
            except WebhookError as err:
                form.apply_error(err)
            except ActionForbidden as err:  # managing is allowed (dispatch); only the personal data can be refused
                form.add_error("include_personal_data", str(err))
            else:
                return _secret_page(request, endpoint=endpoint, secret=secret, made="added")
        messages.validation_error(request, "The endpoint could not be saved; see the errors below.", form)
        return self.render_to_response(self.get_context_data(form=form))


class EndpointEditView(_WebhooksAdmin):
    template_name = "webhooks/admin/form.html"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.endpoint_id = kwargs["endpoint_id"]

    def get_page_title(self):
        return f"Change {self.endpoint.name}"

    def dispatch(self, request, *args, **kwargs):
        if not user_may_manage(request.user):
            raise PermissionDenied
        self.endpoint = get_object_or_404(WebhookEndpoint, pk=self.endpoint_id)
        self.parents = (
            _index_crumb(),
            (reverse("webhooks_admin:endpoint", args=[self.endpoint.pk]), self.endpoint.name),
        )
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        e = self.endpoint
        initial = {
            "name": e.name,
            "url": e.url,
            "events": e.events,
            "enabled": e.enabled,
            "include_personal_data": e.include_personal_data,
            "is_partner": e.is_partner,
            "partner": e.partner,
        }
        context.setdefault("form", EndpointForm(initial=initial))
        context["endpoint"] = e
        return context

    def post(self, request, *args, **kwargs):
        form = EndpointForm(request.POST)
        if form.is_valid():
            try:
                services.webhook_endpoint_update(user=request.user, endpoint=self.endpoint, **form.cleaned_data)
            except WebhookError as err:
                form.apply_error(err)
            except ActionForbidden as err:  # managing is allowed (dispatch); only the personal data can be refused
                form.add_error("include_personal_data", str(err))
            else:
                messages.success(request, f"Saved {form.cleaned_data['name']}.")
                return redirect("webhooks_admin:endpoint", endpoint_id=self.endpoint.pk)
        messages.validation_error(request, "The endpoint could not be saved; see the errors below.", form)
        return self.render_to_response(self.get_context_data(form=form))


def _secret_page(request, *, endpoint, secret, made):
    view = SecretView(request=request, endpoint=endpoint, secret=secret, made=made)
    return view.render_to_response(view.get_context_data())


class SecretView(_WebhooksAdmin):
    """Shown once, as the answer to the POST that made the secret; never reachable by a GET."""

    template_name = "webhooks/admin/secret.html"
    endpoint = secret = made = None

    def get_page_title(self):
        return f"The secret of {self.endpoint.name}"

    def get_context_data(self, **kwargs):
        self.parents = (_index_crumb(),)
        context = super().get_context_data(**kwargs)
        context.update({"endpoint": self.endpoint, "secret": self.secret, "made": self.made})
        return context


class _EndpointView(_WebhooksAdmin):
    def dispatch(self, request, *args, **kwargs):
        if not user_may_manage(request.user):
            raise PermissionDenied
        self.endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("partner"), pk=kwargs["endpoint_id"])
        self.parents = (_index_crumb(),)
        return super().dispatch(request, *args, **kwargs)

    def get_page_title(self):
        return self.endpoint.name


class EndpointDetailView(_EndpointView):
    """The endpoint's settings and state, and its deliveries, newest first, paged, filterable by state."""

    template_name = "webhooks/admin/endpoint.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        state = self.request.GET.get("state") or ""
        if state not in DeliveryState.values:
            state = ""
        rows = selectors.webhook_deliveries_list(user=self.request.user, endpoint=self.endpoint, state=state or None)
        place = KeysetRequest(self.request.GET, model=WebhookDelivery, keyset=DELIVERIES_ORDER)
        context.update(
            {
                "endpoint": self.endpoint,
                "keyset_page": place.page(rows, keyset=DELIVERIES_ORDER, size=PAGE_SIZE),
                "keyset_error": place.error,
                "keyset_labels": NEWEST_FIRST_LABELS,
                "listing_count": listing_count(rows),
                "state": state,
                "states": DeliveryState.choices,
                "secret_overlap": self.endpoint.previous_secret_expires_at if self.endpoint.previous_secret else None,
            }
        )
        return context


class EndpointRotateView(_EndpointView):
    template_name = "webhooks/admin/confirm.html"

    def get_page_title(self):
        return f"Rotate the secret of {self.endpoint.name}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {
                "question": "A new secret is made and shown once. The current one goes on signing beside it for a "
                "day, so the receiver can switch without losing an event.",
                "button": "Rotate the secret",
                "dangerous": False,
            }
        )
        return context

    def post(self, request, *args, **kwargs):
        endpoint, secret = services.webhook_endpoint_secret_rotate(user=request.user, endpoint=self.endpoint)
        return _secret_page(request, endpoint=endpoint, secret=secret, made="rotated")


class EndpointDeleteView(_EndpointView):
    template_name = "webhooks/admin/confirm.html"

    def get_page_title(self):
        return f"Delete {self.endpoint.name}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {
                "question": "The endpoint is deleted with its deliveries and their attempts. Pending deliveries are "
                "never sent. The disclosure log keeps what was disclosed through it.",
                "button": "Delete it",
                "dangerous": True,
            }
        )
        return context

    def post(self, request, *args, **kwargs):
        name = self.endpoint.name
        services.webhook_endpoint_delete(user=request.user, endpoint=self.endpoint)
        messages.success(request, f"Deleted {name}.")
        return redirect("webhooks_admin:index")


class EndpointEnableView(_EndpointView):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        enabled = request.POST.get("enabled") == "1"
        services.webhook_endpoint_update(user=request.user, endpoint=self.endpoint, enabled=enabled)
        messages.success(request, f"{self.endpoint.name} is {'enabled' if enabled else 'disabled'}.")
        return redirect("webhooks_admin:endpoint", endpoint_id=self.endpoint.pk)


class DeliveryDetailView(_WebhooksAdmin):
    """One delivery: its event, state and every attempt with status, time, duration and the answer's excerpt."""

    template_name = "webhooks/admin/delivery.html"

    def dispatch(self, request, *args, **kwargs):
        if not user_may_manage(request.user):
            raise PermissionDenied
        try:
            self.delivery = selectors.webhook_delivery_get(user=request.user, delivery_id=kwargs["delivery_id"])
        except WebhookDelivery.DoesNotExist as err:
            raise Http404("No such delivery.") from err
        endpoint = self.delivery.endpoint
        self.parents = (_index_crumb(), (reverse("webhooks_admin:endpoint", args=[endpoint.pk]), endpoint.name))
        return super().dispatch(request, *args, **kwargs)

    def get_page_title(self):
        return f"{self.delivery.event.type} {self.delivery.event.message_id}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {
                "delivery": self.delivery,
                "attempts": list(self.delivery.attempt_rows.all()),
                "may_resend": self.delivery.state in (DeliveryState.SUCCEEDED, DeliveryState.FAILED),
            }
        )
        return context

    def post(self, request, *args, **kwargs):
        try:
            services.webhook_delivery_resend(user=request.user, delivery=self.delivery)
        except WebhookError as err:
            messages.error(request, str(err))
        else:
            messages.success(request, "Sent again: a new attempt is on its way.")
        return redirect("webhooks_admin:delivery", delivery_id=self.delivery.pk)


admin_patterns = [
    path("", EndpointIndexView.as_view(), name="index"),
    path("add/", EndpointCreateView.as_view(), name="add"),
    path("<int:endpoint_id>/", EndpointDetailView.as_view(), name="endpoint"),
    path("<int:endpoint_id>/edit/", EndpointEditView.as_view(), name="edit"),
    path("<int:endpoint_id>/rotate/", EndpointRotateView.as_view(), name="rotate"),
    path("<int:endpoint_id>/enable/", EndpointEnableView.as_view(), name="enable"),
    path("<int:endpoint_id>/delete/", EndpointDeleteView.as_view(), name="delete"),
    path("deliveries/<int:delivery_id>/", DeliveryDetailView.as_view(), name="delivery"),
]


class WebhooksMenuItem(MenuItem):
    def is_shown(self, request):
        return user_may_manage(request.user)


def menu_item() -> MenuItem:
    return WebhooksMenuItem("Webhooks", reverse("webhooks_admin:index"), icon_name="link", order=700)
