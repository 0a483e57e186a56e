"""Settings > API keys (HTTP only): the list, "New API key" (the key shown once), and revoke. Superusers and staff
with ``api.manage_api_keys`` see it; the services check the same permission themselves."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from django.views.generic import FormView, TemplateView
from wagtail.admin import messages
from wagtail.admin.menu import MenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from ..models import ApiKey
from ..scopes import Scope, scope_missing_permission
from ..services import MANAGE_PERMISSION, ApiKeyError, api_key_create, api_key_revoke

TITLE = "API keys"


def user_may_manage(user) -> bool:
    return user.is_active and user.has_perm(MANAGE_PERMISSION)


class KeysMenuItem(MenuItem):
    def is_shown(self, request):
        return user_may_manage(request.user)


def menu_item() -> MenuItem:
    return KeysMenuItem(TITLE, reverse("api_keys_admin:index"), icon_name="key", order=900)


def _crumbs(title: str, *, index: bool) -> list[dict[str, str]]:
    items = [{"url": reverse("wagtailadmin_home"), "label": "Home"}]
    if not index:
        items.append({"url": reverse("api_keys_admin:index"), "label": TITLE})
    return [*items, {"url": "", "label": title}]


class _Guarded(WagtailAdminTemplateMixin):
    header_icon = "key"

    def dispatch(self, request, *args, **kwargs):
        if not user_may_manage(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class KeyIndexView(_Guarded, TemplateView):
    template_name = "api/admin/keys_index.html"
    page_title = TITLE

    def get_breadcrumbs_items(self):
        return _crumbs(TITLE, index=True)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["keys"] = ApiKey.objects.select_related("created_by").order_by("revoked_at", "name")
        return context


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the key is for, such as “Shop checkout”. Must be unique.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Give the key only what the system using it needs. You may give only what your own roles allow.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the scopes this person may give (the service refuses the others too).
        self.fields["scopes"].choices = [
            (value, label) for value, label in Scope.choices if scope_missing_permission(user, value) is None
        ]


class KeyCreateView(_Guarded, FormView):
    template_name = "api/admin/key_create.html"
    page_title = "New API key"
    form_class = KeyForm

    def get_breadcrumbs_items(self):
        return _crumbs(self.page_title, index=False)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        try:
            made = api_key_create(
                name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"], created_by=self.request.user
            )
        except ApiKeyError as err:
            form.add_error(err.field if err.field in form.fields else None, str(err))
            return self.form_invalid(form)
        # Shown on this answer only: the secret is never stored, so no later page could show it.
        return TemplateResponse(
            self.request,
            "api/admin/key_created.html",
            {**self.get_context_data(form=form), "api_key": made.api_key, "key": made.key},
        )


@require_POST
def key_revoke(request, pk: int):
    if not user_may_manage(request.user):
        raise PermissionDenied
    api_key = get_object_or_404(ApiKey, pk=pk)
    api_key_revoke(api_key=api_key, revoked_by=request.user)
    messages.success(request, f"The API key “{api_key.name}” is revoked: requests with it are refused from now on.")
    return redirect("api_keys_admin:index")


admin_patterns = (
    [
        path("", KeyIndexView.as_view(), name="index"),
        path("new/", KeyCreateView.as_view(), name="create"),
        path("<int:pk>/revoke/", key_revoke, name="revoke"),
    ],
    "api_keys_admin",
)
