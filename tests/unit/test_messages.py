"""messages: the JSON wire format, with amounts as exact decimal numbers."""
from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from urllib.parse import quote

import pytest

from chalicelib.messages import from_json, to_json
from chalicelib.model import CustomerMessage, OrderSummary

JOHN = CustomerMessage("20230828", 1, "1", "John Doe", Decimal("400.00"), (
    OrderSummary("1001", Decimal("250.00"), ("501", "502")),
    OrderSummary("1002", Decimal("150.00"), ("503",))))


def single_order(amount: Decimal, total: Decimal | None = None) -> CustomerMessage:
    return CustomerMessage("b", 1, "1", "A", amount if total is None else total,
                           (OrderSummary("o", amount, ()),))


def test_the_seed_message_text_exactly():
    # SEED-BEHAVIOUR.md's field names and number format, plus batch_id and revision.
    assert to_json(JOHN) == (
        '{"id": "1", "name": "John Doe", "total_amount_spent": 400.00, '
        '"orders": [{"id": "1001", "amount": 250.00, "item_ids": ["501", "502"]}, '
        '{"id": "1002", "amount": 150.00, "item_ids": ["503"]}], '
        '"batch_id": "20230828", "folder": "", "revision": 1}')


def test_round_trip_keeps_every_field_and_exact_decimals():
    body = from_json(to_json(JOHN))

    assert body == {
        "id": "1", "name": "John Doe", "total_amount_spent": Decimal("400.00"),
        "orders": [{"id": "1001", "amount": Decimal("250.00"), "item_ids": ["501", "502"]},
                   {"id": "1002", "amount": Decimal("150.00"), "item_ids": ["503"]}],
        "batch_id": "20230828", "folder": "", "revision": 1}
    assert str(body["total_amount_spent"]) == "400.00"
    assert [str(o["amount"]) for o in body["orders"]] == ["250.00", "150.00"]


def test_the_body_is_standard_json_for_any_consumer():
    # A consumer using plain json.loads gets the same structure (floats aside).
    assert json.loads(to_json(JOHN))["orders"][0] == {"id": "1001", "amount": 250.0,
                                                      "item_ids": ["501", "502"]}


@pytest.mark.parametrize("amount, text", [
    (Decimal("0.00"), "0.00"),
    (Decimal("0.10"), "0.10"),
    (Decimal("19.99"), "19.99"),
    (Decimal("999999999999999.99"), "999999999999999.99"),  # no exponent, no rounding
    (Decimal("1000000000000005.00"), "1000000000000005.00"),
])
def test_amounts_are_written_with_their_exact_digits(amount, text):
    rendered = to_json(single_order(amount))

    assert f'"total_amount_spent": {text},' in rendered
    assert f'"amount": {text},' in rendered
    assert str(from_json(rendered)["orders"][0]["amount"]) == text


@pytest.mark.parametrize("amount, text", [(Decimal("250"), "250.00"), (Decimal("80.5"), "80.50"),
                                          (Decimal("0"), "0.00")])
def test_amounts_always_have_two_decimal_places(amount, text):
    # The parser accepts 250 and 80.5 (at most two places); the seed format is 250.00.
    rendered = to_json(single_order(amount, total=Decimal("0.00") + amount))

    assert f'"amount": {text},' in rendered
    assert f'"total_amount_spent": {text},' in rendered


@pytest.mark.parametrize("name", [
    'Anne "Nan" O\'Neil', "back\\slash", "Zoë 日本 🎉", "tab\tnew\nline", "\u2028\u2029", "",
])
def test_names_and_ids_with_special_characters_round_trip(name):
    message = CustomerMessage("b-1.x", 2, name or "id", name, Decimal("1.00"),
                              (OrderSummary(f"o{name}", Decimal("1.00"), (f"i{name}", "2")),))

    body = from_json(to_json(message))

    assert (body["id"], body["name"]) == (name or "id", name)
    assert body["orders"] == [{"id": f"o{name}", "amount": Decimal("1.00"), "item_ids": [f"i{name}", "2"]}]


def test_non_ascii_is_written_as_is_not_escaped():
    assert '"name": "Zoë"' in to_json(CustomerMessage("b", 1, "1", "Zoë", Decimal("0.00"), ()))


def test_a_customer_without_orders():
    message = CustomerMessage("b", 4, "7", "Nobody", Decimal("0.00"), ())

    assert to_json(message) == ('{"id": "7", "name": "Nobody", "total_amount_spent": 0.00, "orders": [], '
                                '"batch_id": "b", "folder": "", "revision": 4}')


def test_ids_stay_strings_even_when_numeric():
    body = from_json(to_json(JOHN))

    assert isinstance(body["id"], str) and isinstance(body["orders"][0]["id"], str)
    assert all(isinstance(i, str) for i in body["orders"][0]["item_ids"])


def test_idempotency_key_is_batch_customer_revision():
    assert JOHN.idempotency_key == "20230828/1/1"


def test_the_folder_is_a_field_and_part_of_the_idempotency_key():
    message = replace(JOHN, folder="partner-a/in")

    assert from_json(to_json(message))["folder"] == "partner-a/in"
    assert message.idempotency_key == "partner-a/in/20230828/1/1"


@pytest.mark.parametrize("a, b", [
    # Without quoting, each pair would share the key "a/b/c/1".
    ((("a", "b"), "c"), (("", "a"), "b/c")),
    ((("a/b", "c"), "d"), (("a", "b"), "c/d")),
])
def test_idempotency_keys_of_different_messages_never_collide(a, b):
    (folder_a, batch_a), customer_a = a
    (folder_b, batch_b), customer_b = b
    first = replace(JOHN, folder=folder_a, batch_id=batch_a, customer_id=customer_a)
    second = replace(JOHN, folder=folder_b, batch_id=batch_b, customer_id=customer_b)

    assert first.idempotency_key != second.idempotency_key
    assert second.idempotency_key.rsplit("/", 2)[1] == quote(customer_b, safe="")
