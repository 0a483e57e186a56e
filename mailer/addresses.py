"""Addresses as mail servers want them. The transport knows no subscriber: the domain layer normalises, this
only encodes."""


def address_for_transport(email: str) -> str:
    """The address as mail servers want it: an internationalised domain in its ASCII (IDNA) form."""
    local, _, domain = email.rpartition("@")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as err:
        raise ValueError(f"The domain of {email!r} cannot be used for email.") from err
