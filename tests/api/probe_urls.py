"""A URLconf for the foundation's tests: the API's own routes plus two probe endpoints built on its base classes
(a cursor-paged list, and a POST with a visible side effect), as a new endpoint would be."""

import time

from django.core.cache import cache
from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response

from api.views.base import ApiGenericView
from subscribers.models import Topic

PROBE_COUNTER = "api-probe-acts"


class TopicProbeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Topic
        fields = ["slug"]


class ProbeListView(ApiGenericView):
    required_scope = "subscribers:read"
    serializer_class = TopicProbeSerializer
    queryset = Topic.objects.all()

    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ProbeActSerializer(serializers.Serializer):
    value = serializers.IntegerField(min_value=0)
    slow = serializers.BooleanField(default=False)


class ProbeActView(ApiGenericView):
    """Counts each time it acts (in the cache, which every thread and process shares); ``slow`` holds it open."""

    required_scope = "subscribers:write"
    serializer_class = ProbeActSerializer

    def post(self, request):
        serializer = ProbeActSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data["slow"]:
            time.sleep(0.5)
        cache.add(PROBE_COUNTER, 0, timeout=None)
        acts = cache.incr(PROBE_COUNTER)
        return Response({"value": serializer.validated_data["value"], "acts": acts}, status=201)


urlpatterns = [
    path("api/v1/probe/", ProbeListView.as_view()),
    path("api/v1/probe/act/", ProbeActView.as_view()),
    path("", include("newsletter.urls")),  # the site itself, with the API's own routes
]
