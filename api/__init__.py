"""The REST API under ``/api/v1/`` (docs/api.md): keys and their scopes, and the endpoints, which call the same
services as the admin. The top app: it may import campaigns and subscribers; nothing imports it."""
