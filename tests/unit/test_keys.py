"""keys: what an object key says (kind and batch), and a clear rejection when it says nothing."""
from __future__ import annotations

import pytest

from chalicelib.errors import Problem, UnknownObjectKeyError
from chalicelib.keys import KINDS, ObjectName, parse_object_key

KEY_REASON = ("the object key is not <kind>_<batch id>.csv with kind one of "
              "customers, orders, items")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_at_the_top_of_the_bucket(kind):
    key = f"{kind}_20230828.csv"

    assert parse_object_key(key) == ObjectName(key=key, kind=kind, batch_id="20230828")


@pytest.mark.parametrize("key, batch_id, file_name", [
    ("incoming/orders_20230828.csv", "20230828", "orders_20230828.csv"),
    ("a/b/c/orders_20230828.csv", "20230828", "orders_20230828.csv"),
    ("partner one/2023/orders_x.csv", "x", "orders_x.csv"),
    # The prefix may itself look like a file name: only the last segment counts.
    ("customers_1.csv/orders_2.csv", "2", "orders_2.csv"),
    ("/orders_20230828.csv", "20230828", "orders_20230828.csv"),
])
def test_any_prefix_is_allowed(key, batch_id, file_name):
    name = parse_object_key(key)

    assert (name.kind, name.batch_id, name.file_name, name.key) == ("orders", batch_id, file_name, key)


@pytest.mark.parametrize("batch_id", [
    "20230828", "a", "Z", "9", "big", "2023-08-28", "v1.2.3", "Run-7.b", "x" * 100, "a-", "a..b",
])
def test_batch_id_letters_digits_dash_and_dot(batch_id):
    assert parse_object_key(f"items_{batch_id}.csv").batch_id == batch_id


@pytest.mark.parametrize("key", [
    pytest.param("invoices_20230828.csv", id="unknown-kind"),
    pytest.param("Orders_20230828.csv", id="kind-upper-case"),
    pytest.param("order_20230828.csv", id="kind-singular"),
    pytest.param("orders20230828.csv", id="no-underscore"),
    pytest.param("orders_.csv", id="empty-batch"),
    pytest.param("orders_2023_08_28.csv", id="underscore-in-batch"),
    pytest.param("orders_2023 08 28.csv", id="space-in-batch"),
    pytest.param("orders_2023#1.csv", id="hash-in-batch"),
    pytest.param("orders_-1.csv", id="batch-starts-with-dash"),
    pytest.param("orders_.1.csv", id="batch-starts-with-dot"),
    pytest.param("orders_" + "x" * 101 + ".csv", id="batch-over-100-chars"),
    pytest.param("orders_20230828.CSV", id="extension-upper-case"),
    pytest.param("orders_20230828.csv.gz", id="compressed"),
    pytest.param("orders_20230828.txt", id="other-extension"),
    pytest.param("orders_20230828", id="no-extension"),
    pytest.param("incoming/orders_20230828.csv/", id="folder"),
    pytest.param("old_orders_20230828.csv", id="text-before-kind"),
    pytest.param("", id="empty"),
    pytest.param("orders_20230828.csv\n", id="trailing-newline"),
])
def test_a_key_that_names_no_file_is_rejected_with_the_expected_form(key):
    with pytest.raises(UnknownObjectKeyError) as caught:
        parse_object_key(key)

    error = caught.value
    assert error.file_name == key
    assert error.problems == [Problem(line=0, column="", value=key, reason=KEY_REASON)]
    assert error.problem_count == 1
    assert error.hint == "Rename the file, e.g. orders_20230828.csv, and upload it again."


def test_the_rejection_message_quotes_the_key_and_says_what_to_do():
    with pytest.raises(UnknownObjectKeyError) as caught:
        parse_object_key("incoming/invoices_20230828.csv")

    assert str(caught.value) == (
        f"incoming/invoices_20230828.csv was rejected: the file: {KEY_REASON} "
        "(value 'incoming/invoices_20230828.csv'). "
        "Rename the file, e.g. orders_20230828.csv, and upload it again.")
