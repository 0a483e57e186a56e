"""Keys made before attributes existed get what their scopes now grant (``api.scopes``): ``subscribers:read``
lists the declared attributes, ``subscribers:write`` sets people's values."""

from django.db import migrations

from subscribers.roles import permissions_create

GRANTS = {
    "subscribers:read": ["view_attribute"],
    "subscribers:write": ["change_attributevalue"],
}


def keys_grant(apps, schema_editor):
    permissions_create(apps, {"subscribers"})
    ApiKey = apps.get_model("api", "ApiKey")
    Permission = apps.get_model("auth", "Permission")
    for api_key in ApiKey.objects.select_related("user"):
        codenames = [codename for scope in api_key.scopes for codename in GRANTS.get(scope, [])]
        if codenames:
            api_key.user.user_permissions.add(
                *Permission.objects.filter(content_type__app_label="subscribers", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_api_senders_role"),
        ("subscribers", "0019_attribute_permissions"),
    ]

    operations = [migrations.RunPython(keys_grant, migrations.RunPython.noop)]
