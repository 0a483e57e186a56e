"""The group that an API key with the ``campaigns:send`` scope puts its service user in: what ``may_send`` asks for
(``campaigns.send_campaign`` and permission to edit and publish pages), without the staff role's admin access."""

from django.db import migrations

from subscribers.roles import role_group_ensure


def group_create(apps, schema_editor):
    role_group_ensure(
        apps,
        name="API campaign senders",
        permissions=["campaigns.send_campaign"],
        page_permissions=["change_page", "publish_page"],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_keys_and_idempotency"),
        ("campaigns", "0011_editor_and_sender_roles"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [migrations.RunPython(group_create, migrations.RunPython.noop)]
