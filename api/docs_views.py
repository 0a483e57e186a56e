"""The schema and the interactive docs (Swagger UI from drf-spectacular-sidecar: every file from our own origin).

The docs page runs Swagger UI's scripts from files (the split view loads its start-up script from a URL, not inline)
and its stylesheet from static/css, so it keeps the site's strict Content-Security-Policy; only ``img-src`` gains
``data:`` images, which the site's policy already allows. Reading them needs no key: the schema describes the API,
it holds no data.
"""

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView


class SchemaView(SpectacularAPIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []


class DocsView(SpectacularSwaggerSplitView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    url_name = "api:schema"
    template_name = "api/swagger_ui.html"
