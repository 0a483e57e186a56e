"""Admin views for segments (HTTP only): the list, the editor (add and change), delete, and the live count the
editor's script asks for as conditions change.

Anyone who may author campaigns (``may_author_some``) may read segments and count them; adding, changing and
deleting need ``campaigns.manage_segments``, which the services check again. A count shows no one; the sample of
five shows addresses and first names, so it is answered only to staff who may see subscribers
(``subscribers.view_subscriber``).

Without JavaScript the editor is a form with the definition as JSON in a textarea; the script builds the same JSON
from its rows into that field. Either way the server checks it with the grammar and, when it is refused, says
where (the error's path, which the script maps back to the row), changing nothing.
"""

import json

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from campaigns.admin.segment_fields import segment_editor_fields, segment_summary
from campaigns.permissions import may_author_some, may_manage_segments
from campaigns.segments.errors import SegmentError
from campaigns.segments.grammar import MAX_DEPTH
from campaigns.segments.models import Segment
from campaigns.segments.selectors import segment_count, segment_sample
from campaigns.segments.services import segment_create, segment_delete, segment_update

PAGE_SIZE = 20
SAMPLE_SIZE = 5
SAMPLE_PERMISSION = "subscribers.view_subscriber"
COUNT_BODY_MAX = 64 * 1024  # fifty conditions with long texts fit many times over
TOO_DEEP = f"nested too deep to read; groups nest at most {MAX_DEPTH} deep"
NOT_THE_AUDIENCE = (
    "Topics, consent and the suppression list still apply when a campaign is sent: "
    "a segment alone is not the audience."
)


class SegmentForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="Such as “Customers in Scotland”.")
    description = forms.CharField(
        label="Description", max_length=255, required=False, help_text="Who this is for, for your colleagues."
    )
    definition = forms.CharField(
        label="Conditions (JSON)",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "segment-json"}),
        help_text='The condition tree, as described in the segments guide; {"all": []} is everyone.',
    )

    def clean_definition(self):
        try:
            return json.loads(self.cleaned_data["definition"])
        except ValueError as err:
            raise forms.ValidationError(f"definition: not valid JSON ({err})") from None
        except RecursionError:  # thousands of brackets deep: no definition nests like that (MAX_DEPTH)
            raise forms.ValidationError(f"definition: {TOO_DEEP}") from None


class _SegmentsAdmin(WagtailAdminTemplateMixin, TemplateView):
    header_icon = "group"
    parents: tuple = ()

    def allowed(self, user) -> bool:
        return may_author_some(user)

    def dispatch(self, request, *args, **kwargs):
        if not self.allowed(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        items = [{"url": reverse("wagtailadmin_home"), "label": "Home"}]
        items += [{"url": url, "label": label} for url, label in self.parents]
        return [*items, {"url": "", "label": self.get_page_title()}]


def _index_crumb():
    return (reverse("campaigns_admin:segments"), "Segments")


def _count_or_none(definition) -> int | None:
    """A saved segment's count; None when its definition no longer checks (a choice it names was removed, a topic
    renamed)."""
    try:
        return segment_count(definition)
    except SegmentError:
        return None


class SegmentIndexView(_SegmentsAdmin):
    """Segments by name, a page at a time, each with its conditions in a line and how many people it selects now."""

    template_name = "campaigns/admin/segments_index.html"
    page_title = "Segments"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = Paginator(Segment.objects.all(), PAGE_SIZE).get_page(self.request.GET.get("p"))
        catalogue = segment_editor_fields(definitions=[s.definition for s in page.object_list])
        context.update(
            {
                "page": page,
                "rows": [
                    (s, segment_summary(s.definition, catalogue), _count_or_none(s.definition))
                    for s in page.object_list
                ],
                "may_manage": may_manage_segments(self.request.user),
                "not_the_audience": NOT_THE_AUDIENCE,
            }
        )
        return context


class SegmentEditView(_SegmentsAdmin):
    """Add a segment (no ``segment_id``) or change one. POST saves through the services; a refused definition is
    shown again with the error beside the condition it names."""

    template_name = "campaigns/admin/segment_edit.html"

    def allowed(self, user) -> bool:
        return may_manage_segments(user)

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        segment_id = kwargs.get("segment_id")
        self.segment = get_object_or_404(Segment, pk=segment_id) if segment_id else None
        self.parents = (_index_crumb(),)

    def get_page_title(self):
        return f"Change {self.segment.name}" if self.segment else "Add a segment"

    def get_context_data(self, form=None, error=None, **kwargs):
        context = super().get_context_data(**kwargs)
        # The saved count is drawn with the page, so the box is not empty while the script asks for the first
        # count; a form sent back with errors shows none until the script has counted what was sent.
        initial_count = None
        if form is None:
            initial_count = _count_or_none(self.segment.definition if self.segment else {"all": []})
            initial = {"definition": json.dumps({"all": []})}
            if self.segment:
                initial = {
                    "name": self.segment.name,
                    "description": self.segment.description,
                    "definition": json.dumps(self.segment.definition, indent=2),
                }
            form = SegmentForm(initial=initial)
        context.update(
            {
                "form": form,
                "segment": self.segment,
                "error": error,
                "catalogue": segment_editor_fields(definitions=[self._definition_shown(form)]),
                "initial_count": initial_count,
                "count_url": reverse("campaigns_admin:segment_count"),
                "not_the_audience": NOT_THE_AUDIENCE,
            }
        )
        return context

    def _definition_shown(self, form):
        """The definition the page shows: the saved one, or the one sent back with errors (read again from what was
        sent: a refused definition is no longer among the form's cleaned data), None when it is not JSON."""
        if not form.is_bound:
            return self.segment.definition if self.segment else None
        try:
            return json.loads(form.data.get("definition", ""))
        except (ValueError, RecursionError):
            return None

    def post(self, request, *args, **kwargs):
        form = SegmentForm(request.POST)
        error = None
        if form.is_valid():
            data = form.cleaned_data
            try:
                if self.segment:
                    segment = segment_update(segment=self.segment, user=request.user, **data)
                else:
                    segment = segment_create(user=request.user, **data)
            except SegmentError as err:
                if err.path == "name":
                    form.add_error("name", err.problem)
                else:
                    error = err
                    form.add_error("definition", str(err))
            else:
                messages.success(request, f"Segment “{segment.name}” saved.")
                return redirect("campaigns_admin:segments")
        messages.error(request, "The segment was not saved; see the errors below. Nothing was changed.")
        return self.render_to_response(self.get_context_data(form=form, error=error))


class SegmentDeleteView(_SegmentsAdmin):
    """Confirm, then delete a segment no campaign uses."""

    template_name = "campaigns/admin/segment_delete.html"

    def allowed(self, user) -> bool:
        return may_manage_segments(user)

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.segment = get_object_or_404(Segment, pk=kwargs["segment_id"])
        self.parents = (_index_crumb(),)

    def get_page_title(self):
        return f"Delete {self.segment.name}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["segment"] = self.segment
        return context

    def post(self, request, *args, **kwargs):
        try:
            segment_delete(segment=self.segment, user=request.user)
        except SegmentError as err:
            messages.error(request, err.problem)
            return redirect("campaigns_admin:segment_edit", segment_id=self.segment.pk)
        messages.success(request, f"Segment “{self.segment.name}” deleted.")
        return redirect("campaigns_admin:segments")


@never_cache
@require_POST
def segment_count_json(request):
    """The editor's live count: the body is ``{"definition": ...}``; the answer ``{"count": n, "sample": [...]}``
    (the sample only for staff who may see subscribers), or 400 with ``{"error", "path", "problem"}``."""
    if not may_author_some(request.user):
        raise PermissionDenied
    if len(request.body) > COUNT_BODY_MAX:
        return _refused(SegmentError("", "the definition is too large"))
    try:
        definition = json.loads(request.body)["definition"]
    except (ValueError, KeyError, TypeError):
        return _refused(SegmentError("", 'expected a JSON body {"definition": ...}'))
    except RecursionError:
        return _refused(SegmentError("", TOO_DEEP))
    try:
        answer = {"count": segment_count(definition), "note": NOT_THE_AUDIENCE}
        if request.user.has_perm(SAMPLE_PERMISSION):
            answer["sample"] = [
                {"email": s.email, "first_name": s.first_name} for s in segment_sample(definition, SAMPLE_SIZE)
            ]
    except SegmentError as err:
        return _refused(err)
    return JsonResponse(answer)


def _refused(err: SegmentError) -> JsonResponse:
    return JsonResponse({"error": str(err), "path": err.path, "problem": err.problem}, status=400)
