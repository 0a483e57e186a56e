"""The Celery application: broker and result settings come from Django settings (CELERY_*)."""

import os

from celery import Celery

# Workers default to production settings, which refuse to start without their secrets: a worker started
# without DJANGO_SETTINGS_MODULE must fail loudly rather than send with development settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter.settings.production")

app = Celery("newsletter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
