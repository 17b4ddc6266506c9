"""item_sizes: DynamoDB's item size and write-unit rule."""
from __future__ import annotations

import pytest

from chalicelib.item_sizes import item_size, write_units


def test_an_item_is_its_attribute_names_plus_values():
    item = {"pk": {"S": "batch#a"}, "sk": {"S": "file#orders"}, "data": {"B": b"\x00" * 100},
            "rows": {"N": "12345"}, "ok": {"BOOL": True}}
    # pk 2+7, sk 2+11, data 4+100, rows 4+(5 digits: 3+1), ok 2+1
    assert item_size(item) == 9 + 13 + 104 + 8 + 3


def test_strings_count_utf8_bytes_and_sets_their_elements():
    assert item_size({"n": {"S": "日本"}}) == 1 + 6
    assert item_size({"s": {"SS": ["ab", "cde"]}}) == 1 + 5


@pytest.mark.parametrize("size, units", [(0, 1), (1, 1), (1024, 1), (1025, 2), (100_000, 98),
                                         (400 * 1024, 400)])
def test_write_units_round_up_per_started_kilobyte(size, units):
    assert write_units(size) == units
