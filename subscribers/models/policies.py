"""Who read which privacy policy version: a customer acknowledges the notice shown on Account Home."""

from django.db import models
from django.utils import timezone

from .core import PrivacyPolicyVersion, User


class PolicyAcknowledgement(models.Model):
    """A customer said they have read a version of the privacy policy. One per person and version."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="policy_acknowledgements")
    version = models.ForeignKey(PrivacyPolicyVersion, on_delete=models.PROTECT, related_name="acknowledgements")
    acknowledged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-acknowledged_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="one_acknowledgement_per_version"),
        ]

    def __str__(self):
        return f"{self.user} read {self.version} on {self.acknowledged_at:%Y-%m-%d}"
