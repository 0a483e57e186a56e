import pytest

from subscribers.models import Topic


@pytest.fixture
def general(db) -> Topic:
    """The default topic, created by migration."""
    return Topic.objects.get(is_default=True)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the queued emails) when the block exits, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
