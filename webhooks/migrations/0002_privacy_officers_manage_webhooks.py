"""Privacy officers manage webhook endpoints: an endpoint is a disclosure to another system, so it sits with the role
that handles partners and the disclosure log (docs/roles.md)."""

from django.db import migrations

from subscribers.roles import role_group_ensure


def roles_extend(apps, schema_editor):
    role_group_ensure(apps, name="Privacy officers", permissions=["webhooks.manage_webhooks"])


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("subscribers", "0016_privacy_officer_role"),
    ]

    operations = [migrations.RunPython(roles_extend, migrations.RunPython.noop)]
