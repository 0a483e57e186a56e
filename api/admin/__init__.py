"""The admin area for API keys (Settings > API keys), in ``keys``."""
