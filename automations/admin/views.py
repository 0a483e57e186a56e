"""The automation admin's views (HTTP only): the list, an automation's page, its name and trigger, its steps,
activate, pause and resume, and taking one person out.

Every view is under /admin/ (``automations/admin/urls.py``), so Wagtail's ``require_admin_access`` guards it; each then
asks ``automations.admin.access`` whether the person may read automations or change them. Changes go through
``automations.services``, which check the permission again, record the person in the audit log and refuse with a
message that names the field or step; a refused change changes nothing.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from automations import selectors, services
from automations.admin.access import may_manage_automations, may_view_automations
from automations.admin.forms import AutomationForm, StepForm, validation_errors_onto
from automations.admin.steps import step_summary, trigger_summary
from automations.errors import AutomationError
from automations.models import (
    Automation,
    AutomationRun,
    AutomationState,
    AutomationStep,
    LeftReason,
    RunState,
    StepKind,
)
from automations.pages import automation_email_index
from automations.selectors import (
    automation_email_results,
    automation_people,
    automation_runs_of_address,
    automations_people_by_state,
)


class _AutomationsAdmin(WagtailAdminTemplateMixin, TemplateView):
    """What every page here shares: the permission asked, the icon and the breadcrumbs through the list."""

    header_icon = "tasks"
    manage = False  # True: the page changes something, so it needs ``may_manage_automations``

    def dispatch(self, request, *args, **kwargs):
        allowed = may_manage_automations if self.manage else may_view_automations
        if not allowed(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        items = [{"url": reverse("wagtailadmin_home"), "label": "Home"}]
        items.append({"url": reverse("automations_admin:index"), "label": "Automations"})
        automation = getattr(self, "automation", None)
        if automation is not None and automation.pk and self.get_page_title() != automation.name:
            items.append({"url": reverse("automations_admin:detail", args=[automation.pk]), "label": automation.name})
        return [*items, {"url": "", "label": self.get_page_title()}]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["may_manage"] = may_manage_automations(self.request.user)
        return context


class AutomationIndexView(_AutomationsAdmin):
    """Every automation with its state, trigger, steps and how many people are in it, finished it and left it."""

    template_name = "automations/admin/index.html"
    page_title = "Automations"

    def get_breadcrumbs_items(self):
        return [{"url": reverse("wagtailadmin_home"), "label": "Home"}, {"url": "", "label": self.page_title}]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        automations = list(
            Automation.objects.select_related("topic", "trigger_attribute").annotate(step_count=Count("steps"))
        )
        people = automations_people_by_state(automation_ids=[automation.pk for automation in automations])
        for automation in automations:
            counts = people.get(automation.pk, {})
            automation.in_it = counts.get(RunState.ACTIVE, 0)
            automation.finished = counts.get(RunState.FINISHED, 0)
            automation.left = counts.get(RunState.LEFT, 0)
        context["rows"] = [(automation, trigger_summary(automation)) for automation in automations]
        context["email_index_url"] = reverse("wagtailadmin_explore", args=[automation_email_index().pk])
        return context


def _automation(automation_id: int) -> Automation:
    return get_object_or_404(Automation.objects.select_related("topic", "trigger_attribute"), pk=automation_id)


class AutomationDetailView(_AutomationsAdmin):
    """One automation: its trigger and state, its steps in order with how many people are at each, and each email
    step's aggregate results; the buttons to activate, pause or resume it and to change its steps."""

    template_name = "automations/admin/detail.html"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.automation = _automation(kwargs["automation_id"])

    def get_page_title(self):
        return self.automation.name

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        automation = self.automation
        steps = list(automation.steps.select_related("email", "segment").order_by("position"))
        people = automation_people(automation=automation)
        results = automation_email_results(automation=automation)
        reached = selectors.steps_reached(automation=automation)
        rows = []
        for number, step in enumerate(steps):
            rows.append(
                {
                    "step": step,
                    "summary": step_summary(step),
                    "people": people["at_step"].get(step.position, 0),
                    "results": results.get(step.pk) if step.kind == StepKind.EMAIL else None,
                    "locked": reached.get(step.pk, ""),
                    "may_move_up": number > 0 and not reached.get(step.pk) and not reached.get(steps[number - 1].pk),
                    "may_move_down": number < len(steps) - 1
                    and not reached.get(step.pk)
                    and not reached.get(steps[number + 1].pk),
                }
            )
        context.update(
            {
                "automation": automation,
                "trigger": trigger_summary(automation),
                "rows": rows,
                "people": people,
                "states": AutomationState,
                "min_group": settings.REPORT_MIN_GROUP_SIZE,
            }
        )
        return context


class AutomationEditView(_AutomationsAdmin):
    """Add an automation (no ``automation_id``; it starts as a draft) or change its name, topic and trigger."""

    template_name = "automations/admin/edit.html"
    manage = True

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        automation_id = kwargs.get("automation_id")
        self.automation = _automation(automation_id) if automation_id else None

    def get_page_title(self):
        return f"Change {self.automation.name}" if self.automation else "Add an automation"

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update({"form": form or AutomationForm(instance=self.automation), "automation": self.automation})
        return context

    def post(self, request, *args, **kwargs):
        form = AutomationForm(request.POST, instance=self.automation)
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in AutomationForm.Meta.fields}
            try:
                if self.automation:
                    automation = services.automation_update(automation=self.automation, user=request.user, **fields)
                else:
                    automation = services.automation_create(user=request.user, **fields)
            except ValidationError as err:
                validation_errors_onto(form, err)
            except AutomationError as err:
                form.add_error(None, str(err))
            else:
                messages.success(request, f"Automation “{automation.name}” saved.")
                return redirect("automations_admin:detail", automation_id=automation.pk)
        messages.error(request, "The automation was not saved; see the errors below. Nothing was changed.")
        return self.render_to_response(self.get_context_data(form=form))


class StepEditView(_AutomationsAdmin):
    """Add a step at the end of an automation, or change one that no one has reached yet."""

    template_name = "automations/admin/step_edit.html"
    manage = True

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.automation = _automation(kwargs["automation_id"])
        step_id = kwargs.get("step_id")
        self.step = get_object_or_404(AutomationStep, pk=step_id, automation=self.automation) if step_id else None

    def get_page_title(self):
        return f"Change step {self.step.position}" if self.step else "Add a step"

    def dispatch(self, request, *args, **kwargs):
        # Only for showing the form: a change posted anyway is refused by the service itself, with its reason.
        if request.method == "GET" and self.step is not None and may_manage_automations(request.user):
            why = selectors.steps_reached(automation=self.automation).get(self.step.pk)
            if why:
                messages.error(request, f"Step {self.step.position} cannot be changed: {why}")
                return redirect("automations_admin:detail", automation_id=self.automation.pk)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        if form is None:
            form = StepForm(initial=StepForm.initial_for(self.step) if self.step else {"kind": StepKind.EMAIL})
        index = automation_email_index()
        context.update(
            {
                "form": form,
                "automation": self.automation,
                "step": self.step,
                "position": self.step.position if self.step else _next_position(self.automation),
                "email_add_url": reverse(
                    "wagtailadmin_pages:add", args=["automations", "automationemailpage", index.pk]
                ),
                "email_index_url": reverse("wagtailadmin_explore", args=[index.pk]),
                "segments_url": reverse("campaigns_admin:segments"),
            }
        )
        return context

    def post(self, request, *args, **kwargs):
        form = StepForm(request.POST)
        if form.is_valid():
            try:
                if self.step:
                    step = services.step_update(step=self.step, user=request.user, **form.step_fields())
                else:
                    step = services.step_add(automation=self.automation, user=request.user, **form.step_fields())
            except ValidationError as err:
                validation_errors_onto(form, err)
            except AutomationError as err:
                form.add_error(None, str(err))
            else:
                messages.success(request, f"Step {step.position} saved: {step_summary(step)}.")
                return redirect("automations_admin:detail", automation_id=self.automation.pk)
        messages.error(request, "The step was not saved; see the errors below. Nothing was changed.")
        return self.render_to_response(self.get_context_data(form=form))


def _next_position(automation: Automation) -> int:
    return (automation.steps.aggregate(last=Max("position"))["last"] or 0) + 1


class StepDeleteView(_AutomationsAdmin):
    """Confirm, then remove a step no one has reached; the steps after it move up."""

    template_name = "automations/admin/step_delete.html"
    manage = True

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.automation = _automation(kwargs["automation_id"])
        self.step = get_object_or_404(AutomationStep, pk=kwargs["step_id"], automation=self.automation)

    def get_page_title(self):
        return f"Remove step {self.step.position}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {
                "automation": self.automation,
                "step": self.step,
                "summary": step_summary(self.step),
                "locked": selectors.steps_reached(automation=self.automation).get(self.step.pk, ""),
            }
        )
        return context

    def post(self, request, *args, **kwargs):
        position = self.step.position
        try:
            services.step_delete(step=self.step, user=request.user)
        except AutomationError as err:
            messages.error(request, str(err))
        else:
            messages.success(request, f"Step {position} removed.")
        return redirect("automations_admin:detail", automation_id=self.automation.pk)


def _manageable(request, automation_id: int) -> Automation:
    if not may_manage_automations(request.user):
        raise PermissionDenied
    return _automation(automation_id)


@require_POST
def step_move(request, automation_id: int, step_id: int, direction: str):
    """Swap a step with the one before (``up``) or after it (``down``); both must be unreached."""
    automation = _manageable(request, automation_id)
    step = get_object_or_404(AutomationStep, pk=step_id, automation=automation)
    try:
        moved = services.step_move(step=step, user=request.user, offset=-1 if direction == "up" else 1)
    except AutomationError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, f"Step moved to position {moved.position}.")
    return redirect("automations_admin:detail", automation_id=automation.pk)


# (service, the sentence when it changed something)
STATE_ACTIONS = {
    "activate": (services.automation_activate, "Activated. People who meet the trigger from now on enter it."),
    "pause": (
        services.automation_pause,
        "Paused. No step is taken until it is resumed; people who meet the trigger still enter and wait.",
    ),
    "resume": (services.automation_resume, "Resumed. Steps that fell due while it was paused are taken now."),
}


@require_POST
def automation_state_change(request, automation_id: int, action: str):
    """Activate, pause or resume, through the services. A refusal (pausing what is already paused: a button in an
    old tab; activating without steps) changes nothing and says why."""
    automation = _manageable(request, automation_id)
    service, done = STATE_ACTIONS[action]
    try:
        service(automation=automation, user=request.user)
    except AutomationError as err:
        messages.warning(request, f"Nothing changed. {err}")
    except ValidationError as err:
        messages.error(request, f"Nothing changed. {' '.join(err.messages)}")
    else:
        messages.success(request, done)
    return redirect("automations_admin:detail", automation_id=automation.pk)


class PeopleFindView(_AutomationsAdmin):
    """Find one person in an automation by their whole address, to take them out at their request. No list of who
    is in it: that would tell, person by person, what they did (``automation_runs_of_address``)."""

    template_name = "automations/admin/people.html"
    manage = True

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.automation = _automation(kwargs["automation_id"])

    def get_page_title(self):
        return "Take someone out"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        address = self.request.GET.get("address", "").strip()
        runs = list(automation_runs_of_address(automation=self.automation, address=address)) if address else []
        context.update({"automation": self.automation, "address": address, "runs": runs})
        return context


class RunStopView(_AutomationsAdmin):
    """Confirm, then take one person out of the automation (``services.run_stop``, which logs who did it)."""

    template_name = "automations/admin/run_stop.html"
    manage = True

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.automation = _automation(kwargs["automation_id"])
        self.run = get_object_or_404(
            AutomationRun.objects.select_related("subscriber"), pk=kwargs["run_id"], automation=self.automation
        )

    def get_page_title(self):
        return "Take someone out"

    def get(self, request, *args, **kwargs):
        if self.run.state != RunState.ACTIVE:
            return self._not_in_it()
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update({"automation": self.automation, "run": self.run})
        return context

    def post(self, request, *args, **kwargs):
        if self.run.state != RunState.ACTIVE:
            return self._not_in_it()
        run = services.run_stop(run=self.run, user=request.user)
        if run.state == RunState.LEFT and run.left_reason == LeftReason.STOPPED:
            messages.success(
                request,
                f"{run.subscriber.email} was taken out of {self.automation.name}: no more of its steps or emails.",
            )
        else:  # finished or left in the moment between the page and the button
            messages.warning(request, f"Nothing changed: {run.subscriber.email} was no longer in it.")
        return redirect("automations_admin:detail", automation_id=self.automation.pk)

    def _not_in_it(self):
        state = self.run.get_state_display().lower()
        messages.warning(self.request, f"Nothing changed: {self.run.subscriber.email} is no longer in it ({state}).")
        return redirect("automations_admin:detail", automation_id=self.automation.pk)
