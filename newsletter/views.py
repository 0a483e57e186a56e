"""Project-level pages: the shop's landing page, the site icon, the health check and the demo outbox."""

import logging
from functools import cache as memoise

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from mailer.ses import (
    SesError,
    ses_configuration_problems,
    ses_send_events_problem,
    ses_send_quota,
    ses_send_rate,
)

from .local_ses import local_outbox_entries, local_outbox_search, outbox_message, outbox_summary

logger = logging.getLogger(__name__)


def home(request):
    return render(request, "home.html")


@memoise
def _favicon_bytes() -> bytes:
    # Found like any static file (static/favicon.ico), so an operator's own icon replaces ours in one place.
    with open(finders.find("favicon.ico"), "rb") as icon:
        return icon.read()


@require_safe
@cache_control(public=True, max_age=7 * 24 * 3600)
def favicon(request):
    """The site icon at /favicon.ico: browsers ask for it there on their own, whatever the page links to."""
    return HttpResponse(_favicon_bytes(), content_type="image/vnd.microsoft.icon")


def _failure(part: str, err: Exception) -> dict:
    """Unhealthy: the details go to the log, the public answer names only the kind of failure."""
    logger.warning("Health check: %s failed: %s", part, err)
    return {"ok": False, "error": type(err).__name__}


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "engine": connection.vendor}
    except Exception as err:  # any failure means unhealthy; it is reported, not raised
        return _failure("database", err)


def _check_redis() -> dict:
    """A write and a read through the cache: the same Redis that Celery and the rate limits use."""
    try:
        cache.set("healthz:probe", "1", 10)
        if cache.get("healthz:probe") != "1":
            raise RuntimeError("Redis did not return what was written")
        return {"ok": True}
    except Exception as err:
        return _failure("redis", err)


def _check_ses() -> dict:
    problems = ses_configuration_problems()
    result = {
        "region": settings.SES_REGION,
        "configuration_set": settings.SES_CONFIGURATION_SET,
        "endpoint": "local" if settings.SES_ENDPOINT_URL else "aws",
    }
    if problems:
        return {**result, "ok": False, "error": "; ".join(problems)}
    # The quota call proves credentials and reachability; cached so health checks cost SES one call a minute.
    quota = cache.get("healthz:ses-quota")
    if quota is None:
        try:
            quota = ses_send_quota()
        except SesError as err:
            return {**result, **_failure("ses", err), "error": "SES did not answer GetSendQuota"}
        cache.set("healthz:ses-quota", quota, 60)
    # The rate the workers send at (the same function they call), where it came from, and the account's own limit
    # for comparison: SES throttles a fleet told to send faster than that.
    try:
        rate = ses_send_rate()
    except SesError as err:
        return {**result, **_failure("ses", err), "error": "SES did not answer GetAccount or GetSendQuota"}
    result.update(
        {
            "max_send_rate": rate.per_second,
            "max_send_rate_source": rate.source,
            "account_max_send_rate": quota["MaxSendRate"],
        }
    )
    # Without Send events, rows in doubt after a crash are never settled (docs/sending.md); cached in Redis.
    try:
        problem = ses_send_events_problem()
    except SesError as err:
        return {**result, **_failure("ses", err), "error": "SES did not answer DescribeConfigurationSet"}
    if problem:
        return {**result, "ok": False, "send_events": False, "error": problem}
    return {**result, "ok": True, "send_events": True}


def healthz(request):
    """JSON health of the database, Redis and the SES configuration: 200 when all are healthy, else 503."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    checks["ses"] = _check_ses() if checks["redis"]["ok"] else {"ok": False, "error": "Redis is down"}
    healthy = all(c["ok"] for c in checks.values())
    if not healthy:
        logger.warning("Health check failed: %s", {k: v for k, v in checks.items() if not v["ok"]})
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)


OUTBOX_PAGE_SIZE = 50


def _outbox_unreachable(err: OSError) -> str:
    return f"The local SES endpoint at {settings.SES_ENDPOINT_URL} did not answer: {err}"


@staff_member_required(login_url="/admin/login/")
def outbox(request):
    """Demo only: the emails the local SES endpoint received, newest first, 50 a page, searchable by recipient.

    Only the page's messages are parsed, and only their headers: a message opens in ``outbox_message``."""
    recipient = request.GET.get("to", "").strip()
    try:
        entries = local_outbox_search(endpoint_url=settings.SES_ENDPOINT_URL, recipient=recipient)
        error = None
    except OSError as err:
        entries, error = [], _outbox_unreachable(err)
    page = Paginator(entries, OUTBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "summaries": [outbox_summary(entry) for entry in page.object_list],
        "recipient": recipient,
        "error": error,
    }
    return render(request, "outbox.html", context)


@staff_member_required(login_url="/admin/login/")
def outbox_message_view(request, message_id: str):
    """Demo only: one email the local SES endpoint received, rendered so its links can be clicked."""
    try:
        entries = local_outbox_entries(endpoint_url=settings.SES_ENDPOINT_URL)
    except OSError as err:
        return render(request, "outbox_message.html", {"error": _outbox_unreachable(err)}, status=502)
    entry = next((entry for entry in entries if entry.message_id == message_id), None)
    if entry is None:
        raise Http404("The local SES endpoint holds no email with this id (it forgets everything when it restarts).")
    return render(request, "outbox_message.html", {"message": outbox_message(entry), "summary": outbox_summary(entry)})
