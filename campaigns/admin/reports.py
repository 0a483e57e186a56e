"""Admin view of a send's report (HTTP only): aggregates only, never a person."""

from django.conf import settings
from django.urls import reverse
from django.views.generic import TemplateView

from campaigns.admin.base import SendPageMixin
from campaigns.results import kept, report
from campaigns.results.charts import timeline_chart

RATE_LABELS = {
    "delivered": "Delivered",
    "bounced": "Bounced (hard and soft)",
    "complained": "Complained",
    "clicked": "Clicked (unique recipients)",
    "unsubscribed": "Unsubscribed from this email",
}


class SendReportView(SendPageMixin, TemplateView):
    """A send's results for the marketing team: totals, rates, a chart over time and clicks per link. Aggregates
    only: counts of 1 to 4 show as "<5", rates with so few people behind them are hidden, and no person is named or
    listed."""

    template_name = "campaigns/admin/send_report.html"
    page_title = "Report"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        counted = kept.send_results(send=self.send, recount=self.request.GET.get("recount") == "1")
        context.update(
            {
                "counted": counted,
                "recount_url": f"{self.request.path}?recount=1",
                "progress_url": reverse("campaigns_admin:send_progress", args=[self.send.pk]),
                "min_group": settings.REPORT_MIN_GROUP_SIZE,
            }
        )
        if counted.ledger is None:
            return context  # the first count of a large send is running: the page says so and reloads itself
        results = report.send_report(send=self.send, ledger=counted.ledger)
        context.update(
            {
                "report": results,
                "rates": [
                    {"name": name, "label": label, **results["rates"][name]} for name, label in RATE_LABELS.items()
                ],
                "clicks_shown": results["clicks_shown"],
                "chart": timeline_chart(counted.timeline),
                "track_clicks": bool(self.sent_page.track_clicks),
                "track_opens": bool(self.sent_page.track_opens),
                "opens_shown": report.count_shown(self.send.opens),
            }
        )
        return context
