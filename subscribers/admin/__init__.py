"""The Wagtail admin of this app, one module per area; ``wagtail_hooks.py`` registers what they build.

Kept free of imports: Django's admin autodiscovery imports this package while the apps load.
"""
