"""The demo campaign renders on any database, even one whose image files live in another media folder."""

from campaigns.authoring.demo_content import demo_campaign
from campaigns.authoring.rendering import campaign_render


def test_the_demo_campaign_renders_when_its_image_files_are_elsewhere(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "first"
    page = demo_campaign()
    assert "Made for the long evenings" in campaign_render(page=page).html_source

    # The same database seen from another machine, or a later run with a new folder: the files are not there.
    settings.MEDIA_ROOT = tmp_path / "second"
    again = demo_campaign()

    assert again.pk == page.pk
    html = campaign_render(page=again).html_source
    assert "Made for the long evenings" in html
    assert list((tmp_path / "second").rglob("*.png")), "the images were drawn into the new folder"
