"""Where a webhook may be posted: http(s) only and, under production rules, never to this machine or its network.

A webhook URL is chosen by whoever manages endpoints, and the platform then posts to it from inside the data centre:
without this check anyone with that permission could make it call the cloud's metadata service, a database's HTTP
port or an admin page on 127.0.0.1 (server-side request forgery). The check runs when an endpoint is saved AND before
every attempt, because the name may resolve elsewhere by then (DNS rebinding); the attempt then connects to the
address that was checked, not to a second lookup. ``WEBHOOKS_ALLOW_PRIVATE_URLS`` (true in the local and test
settings, false in production) turns the address rule off for development receivers on 127.0.0.1.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from .errors import WebhookUrlRefused


@dataclass(frozen=True)
class Target:
    """Where one attempt goes: the URL's parts, and the address to connect to (None: let the resolver choose)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str | None


def _address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of address this is, when it is one we must not post to."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            # 6to4 and NAT64 addresses are routed to the IPv4 address inside them (2002:a9fe:a9fe::1 reaches
            # 169.254.169.254 through a relay or a NAT64 gateway), so that address is the one to judge.
            kind = _address_refused(embedded)
            return f"{kind} (IPv4 {embedded} inside)" if kind else None
    for kind, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
    ):
        if flag:
            return kind
    if not address.is_global:
        return "non-public"
    return None


SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4 or NAT64 (well-known prefix) address carries, else None."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in SIX_TO_FOUR:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def webhook_url_parse(url: str) -> Target:
    """The URL's parts; WebhookUrlRefused (field ``url``) unless it is an absolute http or https URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise WebhookUrlRefused(f"The URL is not valid: {err}.", field="url") from err
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlRefused("The URL must start with https:// (or http://).", field="url")
    if not parts.hostname:
        raise WebhookUrlRefused("The URL has no host name.", field="url")
    if parts.username or parts.password:
        raise WebhookUrlRefused("The URL must not carry a user name or password.", field="url")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
        path=path,
        address=None,
    )


def webhook_url_check(url: str, *, allow_private: bool | None = None) -> Target:
    """Parse ``url`` and, unless private addresses are allowed, resolve its host and refuse it when any address it
    resolves to is private, loopback, link-local or reserved, naming that address. Returns where to connect."""
    target = webhook_url_parse(url)
    if allow_private is None:
        allow_private = settings.WEBHOOKS_ALLOW_PRIVATE_URLS
    if allow_private:
        return target
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise WebhookUrlRefused(f"The URL's host {target.host} cannot be resolved: {err}.", field="url") from err
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        kind = _address_refused(address)
        if kind:
            raise WebhookUrlRefused(
                f"The URL's host {target.host} resolves to {address}, a {kind} address: webhooks may only be posted "
                "to public addresses.",
                field="url",
            )
        addresses.append(str(address))
    return Target(
        scheme=target.scheme, host=target.host, port=target.port, path=target.path, address=addresses[0]
    )
