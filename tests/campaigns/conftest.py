import pytest

from campaigns.authoring.demo_content import demo_campaign


@pytest.fixture
def campaign(db, settings, tmp_path):
    """The demo campaign (every block type), its images written under a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path
    return demo_campaign()
