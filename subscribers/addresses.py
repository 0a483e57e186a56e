"""Email address normalisation, the keyed HMAC that names an address in the suppression list, and IP truncation."""

import hashlib
import hmac
import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def email_normalise(email: str) -> str:
    """Trim and lower-case an address, so that one mailbox has one spelling everywhere.

    Mail providers treat the local part case-insensitively in practice; keeping one case is what makes
    dedupe, suppression and the erasure tombstone reliable.
    """
    return (email or "").strip().lower()


def address_for_transport(email: str) -> str:
    """The address as mail servers want it: an internationalised domain in its ASCII (IDNA) form."""
    local, _, domain = email.rpartition("@")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as err:
        raise ValueError(f"The domain of {email!r} cannot be used for email.") from err


def address_hmac(email: str) -> str:
    """Keyed HMAC-SHA256 of the normalised address: stable, not reversible without the key."""
    key = settings.SUPPRESSION_HMAC_KEY
    if not key:
        raise ImproperlyConfigured("SUPPRESSION_HMAC_KEY is empty; suppression and erasure need it.")
    return hmac.new(key.encode(), email_normalise(email).encode(), hashlib.sha256).hexdigest()


def ip_truncate(ip: str | None) -> str | None:
    """Keep the network part of an address only (a /24 for IPv4, a /48 for IPv6): evidence, not tracking."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = settings.CONSENT_IPV4_PREFIX if address.version == 4 else settings.CONSENT_IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
