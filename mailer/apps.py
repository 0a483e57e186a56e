from django.apps import AppConfig


class MailerConfig(AppConfig):
    """Sending email through Amazon SES: no models, no domain."""

    name = "mailer"
    verbose_name = "Mailer"
