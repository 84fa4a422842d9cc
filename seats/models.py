from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models


class Seat(models.Model):
    """A seat of the venue, addressed by a row letter and a number (``A1`` … ``J10``)."""

    row = models.CharField(max_length=1, validators=[RegexValidator(r"^[A-Z]$", "A row is one letter A-Z.")])
    number = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(10_000)])

    class Meta:
        ordering = ["row", "number"]
        constraints = [
            models.UniqueConstraint(fields=["row", "number"], name="seat_unique_row_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="seat_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.row}{self.number}"
