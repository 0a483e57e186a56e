from django.conf import settings


def brand(request):
    """The shop's name and postal address for the site chrome."""
    return {"brand_name": settings.BRAND_NAME, "brand_address": settings.BRAND_POSTAL_ADDRESS}
