"""The site's URLs plus one trivial view, for bench_public.py: the yardstick served by the same gunicorn, through the
same middleware, in the same run."""

from django.http import HttpResponse
from django.urls import path

from newsletter.urls import urlpatterns as site


def trivial(request):
    return HttpResponse("ok\n", content_type="text/plain")


urlpatterns = [path("bench/trivial/", trivial), *site]
