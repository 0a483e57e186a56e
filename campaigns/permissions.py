"""Who may do what with a campaign, in one place: asked by the actions themselves, which refuse (``actor_require``),
and by the admin, which hides what someone may not do.

- **Author** (edit, preview, send a test, watch its sends and read its reports): Wagtail's edit permission on the
  campaign page.
- **Manage segments** (create, change, delete a segment): ``campaigns.manage_segments``; any author may read them.
- **Send** (send, schedule, pause, resume, cancel, send again to rows in doubt): the ``campaigns.send_campaign``
  permission *and* the right to publish the page. A send mails the published version to the whole audience, so
  an editor whose changes go through moderation cannot bypass it by sending; and publishing pages alone (Wagtail's
  own Moderators) does not make anyone a sender.

``user`` None is the platform acting by itself (the scheduler, the reputation guard), which needs no permission.
The roles that bundle these are Wagtail groups made by a data migration (``docs/roles.md``).
"""

from wagtail.models import Page
from wagtail.permission_policies.pages import PagePermissionPolicy

from campaigns.errors import CampaignForbidden

SEND_PERMISSION = "campaigns.send_campaign"
SEGMENT_PERMISSION = "campaigns.manage_segments"


def may_author(page, user) -> bool:
    return page.permissions_for_user(user).can_edit()


def may_author_some(user) -> bool:
    """Whether ``user`` may author any page at all: who is shown the Campaigns and Sends menus and recent sends."""
    return PagePermissionPolicy().user_has_any_permission(user, {"add", "change", "publish"})


def may_publish_everywhere(user) -> bool:
    """Whether ``user`` may publish every page: publish permission on the root of the page tree (or a superuser).
    Asked before someone gives an API key the right to send, which publishes from the root."""
    root = Page.get_first_root_node()
    return root is not None and PagePermissionPolicy().user_has_permission_for_instance(user, "publish", root)


def may_manage_segments(user) -> bool:
    """Whether ``user`` may create, change and delete segments. Reading them (the list, a count) needs only
    ``may_author_some``: a segment selects people but shows nobody's details."""
    return user.has_perm(SEGMENT_PERMISSION)


def may_send(page, user) -> bool:
    return user.has_perm(SEND_PERMISSION) and page.permissions_for_user(user).can_publish()


def actor_require(allowed, *, page, user, action: str) -> None:
    """Refuse with ``CampaignForbidden`` unless ``allowed(page, user)``, or ``user`` is None (the platform)."""
    if user is not None and not allowed(page, user):
        raise CampaignForbidden(f"You may not {action} {page.title}: your roles do not allow it.")
