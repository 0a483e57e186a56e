"""The automation admin's URL table, under /admin/automations/ (registered by ``automations/wagtail_hooks.py``)."""

from django.urls import path

from automations.admin import views

admin_patterns = (
    [
        path("", views.AutomationIndexView.as_view(), name="index"),
        path("add/", views.AutomationEditView.as_view(), name="add"),
        path("<int:automation_id>/", views.AutomationDetailView.as_view(), name="detail"),
        path("<int:automation_id>/edit/", views.AutomationEditView.as_view(), name="edit"),
        path("<int:automation_id>/people/", views.PeopleFindView.as_view(), name="people"),
        path("<int:automation_id>/people/<int:run_id>/take-out/", views.RunStopView.as_view(), name="run_stop"),
        *(
            path(f"<int:automation_id>/{action}/", views.automation_state_change, {"action": action}, name=action)
            for action in views.STATE_ACTIONS
        ),
        path("<int:automation_id>/steps/add/", views.StepEditView.as_view(), name="step_add"),
        path("<int:automation_id>/steps/<int:step_id>/", views.StepEditView.as_view(), name="step_edit"),
        path("<int:automation_id>/steps/<int:step_id>/delete/", views.StepDeleteView.as_view(), name="step_delete"),
        *(
            path(
                f"<int:automation_id>/steps/<int:step_id>/move-{direction}/",
                views.step_move,
                {"direction": direction},
                name=f"step_move_{direction}",
            )
            for direction in ("up", "down")
        ),
    ],
    "automations_admin",
)
