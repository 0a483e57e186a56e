"""The customer's privacy page: what is held, and erasing their account."""

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from ..forms import AccountEraseForm
from ..models import ErasureSource
from ..selectors import policy_version_current
from ..services.erasure import account_erase
from .helpers import posted


@login_required
def account_privacy(request):
    return render(request, "account/privacy.html", {"policy": policy_version_current()})


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
