"""The Privacy officers role: privacy requests (and the erasures they lead to), exports to partners and for a sale
of the business, the disclosure log, imports and privacy policy versions, with read-only views of the lists."""

from django.db import migrations

from subscribers.roles import role_group_ensure

PRIVACY_OFFICERS = [
    "wagtailadmin.access_admin",
    "subscribers.view_rightsrequest",
    "subscribers.add_rightsrequest",
    "subscribers.change_rightsrequest",
    "subscribers.view_disclosure",
    "subscribers.export_to_partner",
    "subscribers.export_business_transfer",
    "subscribers.view_partner",
    "subscribers.add_partner",
    "subscribers.change_partner",
    "subscribers.import_subscribers",
    "subscribers.view_privacypolicyversion",
    "subscribers.add_privacypolicyversion",
    "subscribers.view_subscriber",
    "subscribers.view_subscription",
    "subscribers.view_consentevent",
    "subscribers.view_suppression",
    "subscribers.view_topic",
]


def roles_create(apps, schema_editor):
    role_group_ensure(apps, name="Privacy officers", permissions=PRIVACY_OFFICERS)


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0015_business_transfer_permission"),
        ("wagtailadmin", "0001_create_admin_access_permissions"),
        # After Wagtail gives every group with admin access the right to choose documents, which these need not.
        ("wagtaildocs", "0014_alter_document_file_size"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [migrations.RunPython(roles_create, migrations.RunPython.noop)]
