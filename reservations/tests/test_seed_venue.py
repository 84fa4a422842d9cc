import pytest
from django.core.management import CommandError, call_command

from reservations.services import reservation_create
from seats.models import Seat

pytestmark = pytest.mark.django_db


def test_default_venue_is_ten_rows_of_ten(capsys):
    call_command("seed_venue")
    assert Seat.objects.count() == 100
    assert sorted(set(Seat.objects.values_list("row", flat=True))) == list("ABCDEFGHIJ")
    assert Seat.objects.filter(row="J", number=10).exists()
    assert "100 seats" in capsys.readouterr().out


def test_custom_size():
    call_command("seed_venue", rows=3, seats_per_row=4)
    assert Seat.objects.count() == 12
    assert sorted(set(Seat.objects.values_list("row", flat=True))) == ["A", "B", "C"]


def test_refuses_to_overwrite_a_venue_with_reservations():
    call_command("seed_venue")
    reservation_create(seat_id=Seat.objects.first().pk, customer_name="Jean", server_id="server-1")
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_venue", rows=2)
    assert Seat.objects.count() == 100
    call_command("seed_venue", rows=2, force=True)
    assert Seat.objects.count() == 20


def test_if_empty_keeps_an_existing_venue():
    call_command("seed_venue", rows=2, seats_per_row=2)
    call_command("seed_venue", if_empty=True)
    assert Seat.objects.count() == 4


@pytest.mark.parametrize(
    ("rows", "per_row", "message"),
    [
        (0, 10, "Invalid input. --rows: Between 1 and 26 rows (one letter each). [VALIDATION_ERROR]"),
        (27, 10, "Invalid input. --rows: Between 1 and 26 rows (one letter each). [VALIDATION_ERROR]"),
        (5, 0, "Invalid input. --seats-per-row: Between 1 and 10000 seats per row. [VALIDATION_ERROR]"),
    ],
)
def test_rejects_impossible_sizes_in_sentences(rows, per_row, message):
    with pytest.raises(CommandError) as raised:
        call_command("seed_venue", rows=rows, seats_per_row=per_row)
    assert str(raised.value) == message
    assert raised.value.returncode == 2
    assert Seat.objects.count() == 0
