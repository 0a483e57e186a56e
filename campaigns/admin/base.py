"""What the campaign admin pages share: the page header and breadcrumbs of a campaign, who may send and who may
watch a send (``campaigns.permissions``), the send a URL names, and how times are written.

Every view is registered under /admin/ (``campaigns/admin/urls.py``), so Wagtail's ``require_admin_access`` guards
it; each then checks the user's permission on the campaign page itself.
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import reverse
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.views.pages.utils import get_breadcrumbs_items_for_page
from wagtail.admin.widgets.button import HeaderButton

from campaigns.authoring.personalise import subject_samples
from campaigns.authoring.rendering import rendered_from_sources
from campaigns.models import Send
from campaigns.permissions import may_author, may_send


class CampaignAdminMixin(WagtailAdminTemplateMixin):
    """Breadcrumbs through the campaign's place in the page tree, and a link back to editing it."""

    header_icon = "mail"

    def get_page_subtitle(self):
        return self.page.get_admin_display_title()

    def get_breadcrumbs_items(self):
        return [
            *get_breadcrumbs_items_for_page(self.page, self.request.user),
            {"url": "", "label": self.page_title},
        ]

    def get_header_buttons(self):
        return [
            HeaderButton("Edit campaign", url=reverse("wagtailadmin_pages:edit", args=[self.page.pk]), icon_name="edit")
        ]


def send_for(request, send_id: int, *, manage: bool = False) -> Send:
    send = get_object_or_404(Send.objects.select_related("page"), pk=send_id)
    allowed = may_send if manage else may_author
    if not allowed(send.page, request.user):
        raise PermissionDenied
    return send


def eta_text(seconds: int | None) -> str:
    """The time left, roughly: on the progress page, and in its JSON view for the page's script to show."""
    if seconds is None:
        return "\u2013"  # an en dash: no estimate yet
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


def duration_text(start, end) -> str:
    """How long a finished send took, to the second under a minute."""
    if not (start and end):
        return ""
    seconds = round((end - start).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


class SendPageMixin(CampaignAdminMixin):
    """A page about one send (``send_id`` in the URL), for someone who may watch its campaign."""

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.send = None

    def dispatch(self, request, *args, **kwargs):
        self.send = send_for(request, kwargs["send_id"])
        self.page = self.send.page
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        self.sent_page = self.send.revision.as_object()  # the campaign as it was sent
        context.update({"campaign": self.page, "send": self.send, **send_subject_context(self.send, self.sent_page)})
        return context


def send_subject_context(send: Send, sent_page) -> dict:
    """The subject as written (with its merge tags) and as sample recipients receive it, for a send's pages.

    A send that has started stored its render; one not started yet shows its revision's subject, rendered the way
    ``send_start`` will.
    """
    rendered = rendered_from_sources(
        page_id=send.page_id,
        revision_id=send.revision_id,
        subject=send.subject_source or " ".join(sent_page.subject.split()),
        html=send.html_source,
        text=send.text_source,
        sender=send.sender,
        reply_to=send.reply_to,
    )
    return {"subject": rendered.subject_source, "subject_samples": subject_samples(rendered=rendered)}
