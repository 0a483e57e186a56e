"""Privacy officers declare, change and delete subscriber attributes and set people's values: deciding what is
recorded about people is a data-protection decision (collect no more than is needed), and they already import
subscribers, which sets values too. See docs/roles.md."""

from django.db import migrations

from subscribers.roles import role_group_ensure

ATTRIBUTES = [
    "subscribers.view_attribute",
    "subscribers.add_attribute",
    "subscribers.change_attribute",
    "subscribers.delete_attribute",
    "subscribers.view_attributevalue",
    "subscribers.change_attributevalue",
]


def roles_extend(apps, schema_editor):
    role_group_ensure(apps, name="Privacy officers", permissions=ATTRIBUTES)


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0018_subscriber_attributes"),
        ("subscribers", "0016_privacy_officer_role"),
    ]

    operations = [migrations.RunPython(roles_extend, migrations.RunPython.noop)]
