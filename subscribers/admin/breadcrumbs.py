"""Breadcrumbs for the admin sections this app adds (imports, disclosures, privacy requests)."""

from django.urls import reverse


def section_breadcrumbs(*, title: str, section: tuple[str, str] | None) -> list[dict[str, str]]:
    """Home, then the section's index (its URL name and label) unless this page is that index, then this page."""
    items = [{"url": reverse("wagtailadmin_home"), "label": "Home"}]
    if section is not None:
        url_name, label = section
        items.append({"url": reverse(url_name), "label": label})
    return [*items, {"url": "", "label": title}]
