"""The page that holds every automation email: made by a migration, made again here where a test flushed it."""

from wagtail.models import Site

from automations.models import AutomationEmailIndexPage, AutomationEmailPage


def automation_email_index() -> AutomationEmailIndexPage:
    """The one page that holds automation emails, under the default site's root page's parent (the tree's root)."""
    index = AutomationEmailIndexPage.objects.first()
    if index is None:
        root = Site.objects.get(is_default_site=True).root_page.get_parent()
        index = root.add_child(instance=AutomationEmailIndexPage(title="Automation emails", slug="automation-emails"))
    return index


def automation_email_create(*, title: str, subject: str, sender: str, body: list, **fields) -> AutomationEmailPage:
    """A published automation email under the index: ``body`` is StreamField data, e.g. [("text", "<p>Hi</p>")]."""
    index = automation_email_index()
    page = index.add_child(
        instance=AutomationEmailPage(title=title, subject=subject, sender=sender, body=body, **fields)
    )
    page.save_revision().publish()
    return page
