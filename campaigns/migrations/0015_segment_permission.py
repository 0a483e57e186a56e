"""Campaign editors and senders manage segments: a segment says who a campaign is for, which is the campaign
author's work; it shows nobody's details (docs/roles.md)."""

from django.db import migrations

from subscribers.roles import role_group_ensure


def roles_extend(apps, schema_editor):
    for name in ("Campaign editors", "Campaign senders"):
        role_group_ensure(apps, name=name, permissions=["campaigns.manage_segments"])


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0014_campaign_and_send_segment"),
        ("campaigns", "0011_editor_and_sender_roles"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="segment",
            options={
                "ordering": ["name"],
                "permissions": [("manage_segments", "Can create, change and delete segments")],
            },
        ),
        migrations.RunPython(roles_extend, migrations.RunPython.noop),
    ]
