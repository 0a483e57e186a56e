"""The campaign admin's URL table, under /admin/campaigns/ (registered by ``campaigns/wagtail_hooks.py``)."""

from django.urls import path

from campaigns.admin import authoring, policy_announcement, reports, segments, sends

admin_patterns = (
    [
        path("", authoring.campaigns_explore, name="explore"),
        path("<int:page_id>/send-test/", authoring.CampaignTestSendView.as_view(), name="test_send"),
        path("<int:page_id>/send/", sends.CampaignSendView.as_view(), name="send"),
        path(
            "policy-announcement/<int:version_id>/",
            policy_announcement.policy_announcement_create_view,
            name="policy_announcement",
        ),
        path("segments/", segments.SegmentIndexView.as_view(), name="segments"),
        path("segments/add/", segments.SegmentEditView.as_view(), name="segment_add"),
        path("segments/count.json", segments.segment_count_json, name="segment_count"),
        path("segments/<int:segment_id>/", segments.SegmentEditView.as_view(), name="segment_edit"),
        path("segments/<int:segment_id>/delete/", segments.SegmentDeleteView.as_view(), name="segment_delete"),
        path("sends/", sends.SendsIndexView.as_view(), name="sends"),
        path("sends/<int:send_id>/", sends.SendProgressView.as_view(), name="send_progress"),
        path("sends/<int:send_id>/progress.json", sends.send_progress_json, name="send_progress_json"),
        path("sends/<int:send_id>/report/", reports.SendReportView.as_view(), name="send_report"),
        *(
            path(f"sends/<int:send_id>/{action}/", sends.send_action, {"action": action}, name=f"send_{action}")
            for action in sends.SEND_ACTIONS
        ),
        path(
            "sends/<int:send_id>/send-unconfirmed-again/",
            sends.send_unconfirmed_resend,
            name="send_unconfirmed_resend",
        ),
    ],
    "campaigns_admin",
)
