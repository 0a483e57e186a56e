"""The one order in which a send's rows are locked: the campaign page first, then the send.

Every transaction that changes a send and must see its campaign's other sends (start, send now, schedule) takes the
page's row first, so two of them for one campaign (a person and the scheduler, a double click) queue on the page
instead of each holding a send the other waits for. Keeping the order in one place keeps deadlocks out.
"""

from campaigns.models import CampaignPage, Send


def campaign_send_lock(*, page_id: int, send_id: int | None = None) -> Send | None:
    """Inside a transaction: lock the campaign page, then (given its id) the send, and return the send as locked."""
    CampaignPage.objects.select_for_update().filter(pk=page_id).first()
    if send_id is None:
        return None
    return Send.objects.select_for_update().get(pk=send_id)
