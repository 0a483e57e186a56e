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


@pytest.fixture
def write(tmp_path):
    """Write a file (text as UTF-8, or bytes as they are) for an import; returns its path."""

    def make(text: str | bytes, name: str = "people.csv"):
        path = tmp_path / name
        (path.write_bytes if isinstance(text, bytes) else lambda t: path.write_text(t, encoding="utf-8"))(text)
        return path

    return make
