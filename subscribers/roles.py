"""Roles are Wagtail groups (Settings > Groups), each a bundle of the permissions its actions check. This module
makes or tops up such a group from a data migration, with the migration's historical models (``apps``), so the
roles exist on every database the moment it is migrated. The roles themselves are listed in ``docs/roles.md``.

Run inside a migration, before ``post_migrate`` has created any permission, so this creates those it grants
(with the names Django would give them). It only ever adds: a permission someone removed from a role by hand is
added back only when a later migration grants it again, and nothing else in the group is touched.
"""

from django.contrib.auth.management import create_permissions


def permissions_create(apps, app_labels) -> None:
    """The model permissions of the apps ``app_labels``, as ``migrate`` would create after the last migration."""
    for app_label in sorted(app_labels):
        try:
            app_config = apps.get_app_config(app_label)
        except LookupError:
            continue  # no models in this state (``wagtailadmin``): its migrations make its permissions themselves
        app_config.models_module = True  # create_permissions skips an app without one; a historical app has none
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def role_group_ensure(
    apps, *, name: str, permissions: list[str], page_permissions: list[str] = (), collection_permissions=()
):
    """The group ``name`` (made when missing) with ``permissions`` ("app_label.codename"), Wagtail page
    permissions (codenames of ``wagtailcore.Page``) on the root page and collection permissions
    ("app_label.codename") on the root collection."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions_create(apps, {label.split(".")[0] for label in [*permissions, *collection_permissions]})

    def permission(label: str):
        app_label, codename = label.split(".")
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)

    group, _ = Group.objects.get_or_create(name=name)
    group.permissions.add(*(permission(label) for label in permissions))
    # Wagtail's page permissions hold for the page's whole subtree: on the root, for every site.
    root_page = apps.get_model("wagtailcore", "Page").objects.filter(depth=1).first()
    if root_page is not None:
        GroupPagePermission = apps.get_model("wagtailcore", "GroupPagePermission")
        for codename in page_permissions:
            GroupPagePermission.objects.get_or_create(
                group=group, page=root_page, permission=permission(f"wagtailcore.{codename}")
            )
    root_collection = apps.get_model("wagtailcore", "Collection").objects.filter(depth=1).first()
    if root_collection is not None:
        GroupCollectionPermission = apps.get_model("wagtailcore", "GroupCollectionPermission")
        for label in collection_permissions:
            GroupCollectionPermission.objects.get_or_create(
                group=group, collection=root_collection, permission=permission(label)
            )
    return group
