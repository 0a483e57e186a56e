"""Campaign senders manage automations (an active automation mails people without anyone pressing Send, so it needs
what sending needs); campaign editors may read them and write their emails, which are pages (docs/roles.md)."""

from django.db import migrations

from subscribers.roles import role_group_ensure


def roles_extend(apps, schema_editor):
    role_group_ensure(
        apps, name="Campaign senders", permissions=["automations.manage_automations", "automations.view_automation"]
    )
    role_group_ensure(apps, name="Campaign editors", permissions=["automations.view_automation"])


class Migration(migrations.Migration):
    dependencies = [
        ("automations", "0003_trigger_permission"),
        ("campaigns", "0011_editor_and_sender_roles"),
    ]

    operations = [migrations.RunPython(roles_extend, migrations.RunPython.noop)]
