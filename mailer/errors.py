"""The one base of every error the transport raises on purpose: SES refusing or not answering, a connection that
failed, a header that would inject another. Callers catch ``MailerError`` (or one of its kinds) and never a bare
``Exception``."""


class MailerError(Exception):
    """The transport could not do what was asked; the message and the subclass say why."""
