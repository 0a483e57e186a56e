"""The customer's privacy page: what is held, a copy of it, and erasing their account."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from ..forms import AccountEraseForm
from ..models import ErasureSource
from ..selectors import account_subscriber, policy_version_current
from ..services.access_export import access_export_chunks, access_export_for_token, access_export_request
from ..services.erasure import account_erase
from ..services.errors import AccessExportError
from .helpers import posted

EXPORT_FILE_NAME = "my-data.zip"


@login_required
def account_privacy(request):
    subscriber = account_subscriber(user=request.user)
    return render(
        request,
        "account/privacy.html",
        {"policy": policy_version_current(), "can_export": bool(subscriber), "subscriber": subscriber},
    )


@login_required
@require_POST
def account_export_request(request):
    """Ask for a copy: prepared in the background, the link sent to the account's confirmed address."""
    subscriber = account_subscriber(user=request.user)
    if subscriber is None:
        messages.error(request, "Confirm your email address first (see Account Home): the copy is sent to it.")
    elif is_ratelimited(
        request, group="account-export", key="user", rate=settings.ACCESS_EXPORT_RATE, method="POST", increment=True
    ):
        messages.error(request, "You have asked for several copies today. Please try again tomorrow.")
    else:
        try:
            access_export_request(subscriber=subscriber, requested_by=request.user)
        except AccessExportError as err:
            messages.error(request, str(err))
        else:
            messages.success(
                request, f"We are preparing your copy. A download link will arrive at {subscriber.email} shortly."
            )
    return redirect("account:privacy")


@never_cache
@require_http_methods(["GET", "POST"])
def account_export_download(request, token: str):
    """The link from the email, no login needed (a copy may be for someone without an account).

    GET shows what the copy is, its size and when the link expires, with a download button, and changes nothing:
    mail scanners and link previews fetch every link in an email. The button POSTs to the same address, which
    answers with the zip alone; the download is recorded once the whole file has been sent.
    """
    try:
        export, path = access_export_for_token(token=token)
    except AccessExportError as err:
        return render(request, "account/export_gone.html", {"reason": str(err)}, status=410)
    size = path.stat().st_size
    if request.method == "POST":
        response = StreamingHttpResponse(access_export_chunks(export=export, path=path), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{EXPORT_FILE_NAME}"'
        response["Content-Length"] = str(size)
        return response
    return render(
        request,
        "account/export_download.html",
        {"export": export, "size": size, "file_name": EXPORT_FILE_NAME},
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_erase_view(request):
    """GET explains what erasure means and asks for the password; POST erases, logs out and says it is done."""
    form = AccountEraseForm(posted(request), user=request.user)
    limited = request.method == "POST" and is_ratelimited(
        request, group="account-erase", key="user", rate=settings.ACCOUNT_ERASE_RATE, method="POST", increment=True
    )
    if limited:
        form.add_error(None, "Too many attempts. Please wait an hour and try again.")
    elif request.method == "POST" and form.is_valid():
        account_erase(user=request.user, source=ErasureSource.SELF_SERVICE)
        logout(request)
        return redirect("account:erased")
    return render(request, "account/erase.html", {"form": form})


def account_erased(request):
    return render(request, "account/erased.html")
