"""The campaign roles. Campaign editors write campaigns, preview them, send tests and watch sends and reports;
their changes go through moderation, as they may not publish. Campaign senders may also publish, and send,
schedule, pause, resume and cancel sends. Both may add and choose images."""

from django.db import migrations

from subscribers.roles import role_group_ensure

IMAGES = ["wagtailimages.add_image", "wagtailimages.change_image", "wagtailimages.choose_image"]


def roles_create(apps, schema_editor):
    role_group_ensure(
        apps,
        name="Campaign editors",
        permissions=["wagtailadmin.access_admin"],
        page_permissions=["add_page", "change_page"],
        collection_permissions=IMAGES,
    )
    role_group_ensure(
        apps,
        name="Campaign senders",
        permissions=["wagtailadmin.access_admin", "campaigns.send_campaign"],
        page_permissions=["add_page", "change_page", "publish_page"],
        collection_permissions=IMAGES,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0010_send_permission"),
        ("subscribers", "0016_privacy_officer_role"),
        ("wagtailadmin", "0001_create_admin_access_permissions"),
        # After Wagtail gives every group with admin access the right to choose documents, which these need not.
        ("wagtaildocs", "0014_alter_document_file_size"),
        ("wagtailcore", "0098_apitoken"),
        ("wagtailimages", "0027_image_description"),
    ]

    operations = [migrations.RunPython(roles_create, migrations.RunPython.noop)]
