"""Creates the one page that holds every automation email, under the root page, as Wagtail's own initial data does.

Page creation through treebeard's API is not available to a migration (historical models have no tree methods), so
the materialised path is computed here: Wagtail's pages use four base-36 characters a level.
"""

from django.db import migrations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STEP = 4


def _step(number: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, len(ALPHABET))
        digits = ALPHABET[rest] + digits
    return digits.rjust(STEP, "0")


def _number(step: str) -> int:
    value = 0
    for char in step:
        value = value * len(ALPHABET) + ALPHABET.index(char)
    return value


def index_create(apps, schema_editor):
    Page = apps.get_model("wagtailcore", "Page")
    Locale = apps.get_model("wagtailcore", "Locale")
    ContentType = apps.get_model("contenttypes", "ContentType")
    IndexPage = apps.get_model("automations", "AutomationEmailIndexPage")
    if IndexPage.objects.exists():
        return
    root = Page.objects.filter(depth=1).order_by("path").first()
    if root is None:  # no page tree yet: Wagtail's own data migration has not run (never the case after it)
        return
    last = Page.objects.filter(depth=2, path__startswith=root.path).order_by("-path").values_list("path", flat=True)
    following = _number(last[0][-STEP:]) + 1 if last else 1
    content_type, _ = ContentType.objects.get_or_create(app_label="automations", model="automationemailindexpage")
    locale = Locale.objects.filter(pk=root.locale_id).first() or Locale.objects.order_by("pk").first()
    slug = "automation-emails"
    if Page.objects.filter(depth=2, slug=slug).exists():
        slug = "automation-emails-index"
    IndexPage.objects.create(
        title="Automation emails",
        draft_title="Automation emails",
        slug=slug,
        content_type=content_type,
        path=root.path + _step(following),
        depth=2,
        numchild=0,
        url_path=f"{root.url_path}{slug}/",
        live=True,
        locale=locale,
    )
    Page.objects.filter(pk=root.pk).update(numchild=root.numchild + 1)


def index_remove(apps, schema_editor):
    Page = apps.get_model("wagtailcore", "Page")
    IndexPage = apps.get_model("automations", "AutomationEmailIndexPage")
    for index in IndexPage.objects.all():
        if Page.objects.filter(path__startswith=index.path, depth__gt=index.depth).exists():
            continue  # it holds emails: leave it
        parent_path = index.path[:-STEP]
        index.delete()
        parent = Page.objects.get(path=parent_path)
        Page.objects.filter(pk=parent.pk).update(numchild=max(parent.numchild - 1, 0))


class Migration(migrations.Migration):
    dependencies = [
        ("automations", "0001_initial"),
        ("wagtailcore", "0002_initial_data"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(index_create, index_remove)]
