"""The Webhooks admin area (Settings > Webhooks): views, forms and URL table, registered by ``wagtail_hooks.py``."""
