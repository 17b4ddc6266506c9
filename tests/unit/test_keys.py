"""keys: what an object key says (folder, kind and batch), and what is wrong with one that does not."""
from __future__ import annotations

import pytest

from chalicelib.errors import Problem
from chalicelib.keys import (
    KINDS,
    BatchRef,
    MisnamedObjectError,
    ObjectName,
    parse_object_key,
    within_key_limit,
)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_at_the_top_of_the_bucket(kind):
    key = f"{kind}_20230828.csv"

    assert parse_object_key(key) == ObjectName(key=key, kind=kind, batch=BatchRef("", "20230828"))


@pytest.mark.parametrize("key, folder, batch_id, file_name", [
    ("incoming/orders_20230828.csv", "incoming", "20230828", "orders_20230828.csv"),
    ("a/b/c/orders_20230828.csv", "a/b/c", "20230828", "orders_20230828.csv"),
    ("partner one/2023/orders_x.csv", "partner one/2023", "x", "orders_x.csv"),
    # The prefix may itself look like a file name: only the last segment counts.
    ("customers_1.csv/orders_2.csv", "customers_1.csv", "2", "orders_2.csv"),
])
def test_the_prefix_is_the_batch_folder(key, folder, batch_id, file_name):
    name = parse_object_key(key)

    assert (name.kind, name.folder, name.batch_id, name.file_name, name.key) == (
        "orders", folder, batch_id, file_name, key)
    assert name.batch == BatchRef(folder, batch_id)


def test_two_folders_with_one_batch_id_are_two_batches():
    a = parse_object_key("partner-a/customers_20230828.csv").batch
    b = parse_object_key("partner-b/customers_20230828.csv").batch
    top = parse_object_key("customers_20230828.csv").batch

    assert len({a, b, top}) == 3
    assert (a.key, b.key, top.key) == ("partner-a/20230828", "partner-b/20230828", "20230828")


@pytest.mark.parametrize("batch", [BatchRef("", "1"), BatchRef("a", "1"), BatchRef("a/b c", "x.y")])
def test_a_batch_key_reads_back_as_its_folder_and_id(batch):
    assert BatchRef.parse(batch.key) == batch


@pytest.mark.parametrize("batch_id", [
    "20230828", "a", "Z", "9", "big", "2023-08-28", "v1.2.3", "Run-7.b", "x" * 100, "a-", "a..b",
])
def test_batch_id_letters_digits_dash_and_dot(batch_id):
    assert parse_object_key(f"items_{batch_id}.csv").batch_id == batch_id


HOW = ("a file's name is its kind (customers, orders or items, in lower case), '_', the batch "
       "id (letters, digits, '-' and '.'), and '.csv' in lower case.")


# ``batch``: where the report is filed, the batch the name means (its id as it must be written).
@pytest.mark.parametrize("key, reasons, batch, kind, rename_to", [
    pytest.param("customers_x.CSV", ["the extension must be lower-case .csv, not .CSV"],
                 BatchRef("", "x"), "customers", "customers_x.csv", id="extension-upper-case"),
    pytest.param("in/Orders_20230828.csv", ["the kind must be lower-case 'orders', not 'Orders'"],
                 BatchRef("in", "20230828"), "orders", "orders_20230828.csv", id="kind-upper-case"),
    pytest.param("order_20230828.csv", ["the kind is 'orders' (plural), not 'order'"],
                 BatchRef("", "20230828"), "orders", "orders_20230828.csv", id="kind-singular"),
    pytest.param("invoices_20230828.csv",
                 ["the name must start with the kind: customers_, orders_ or items_"],
                 BatchRef("", "20230828"), None, "<kind>_20230828.csv", id="unknown-kind"),
    pytest.param("orders20230828.csv", ["the kind and the batch id must be separated by '_'"],
                 BatchRef("", "20230828"), "orders", "orders_20230828.csv", id="no-underscore"),
    pytest.param("orders-20230828.csv",
                 ["the kind and the batch id must be separated by '_', not '-'"],
                 BatchRef("", "20230828"), "orders", "orders_20230828.csv", id="dash-separator"),
    pytest.param("orders_.csv", ["there is no batch id after the kind"],
                 None, "orders", "orders_<batch id>.csv", id="empty-batch"),
    pytest.param("orders_2023_08_28.csv",
                 ["the batch id may hold only letters, digits, '-' and '.'; it has an underscore '_'"],
                 BatchRef("", "2023-08-28"), "orders", "orders_2023-08-28.csv",
                 id="underscore-in-batch"),
    pytest.param("orders_2023 08 28.csv",
                 ["the batch id may hold only letters, digits, '-' and '.'; it has a space"],
                 BatchRef("", "2023-08-28"), "orders", "orders_2023-08-28.csv", id="space-in-batch"),
    pytest.param("orders_2023#1_x.csv",
                 ["the batch id may hold only letters, digits, '-' and '.'; it has '#', "
                  "an underscore '_'"],
                 BatchRef("", "2023-1-x"), "orders", "orders_2023-1-x.csv", id="two-bad-characters"),
    pytest.param("orders_-1.csv", ["the batch id must start with a letter or digit, not '-'"],
                 BatchRef("", "1"), "orders", "orders_1.csv", id="batch-starts-with-dash"),
    pytest.param("orders_" + "x" * 101 + ".csv",
                 ["the batch id is 101 characters long; at most 100 are allowed"],
                 BatchRef("", "x" * 100), "orders", "orders_" + "x" * 100 + ".csv",
                 id="batch-over-100-chars"),
    pytest.param("orders_20230828.csv.gz",
                 ["the file must be plain CSV text ending in .csv, not .gz (compressed or wrapped "
                  "files are not read)"],
                 BatchRef("", "20230828"), "orders", "orders_20230828.csv", id="compressed"),
    pytest.param("orders_20230828.txt", ["the extension must be .csv, not .txt"],
                 BatchRef("", "20230828"), "orders", "orders_20230828.csv", id="other-extension"),
    pytest.param("orders_20230828", ["the name has no extension: it must end in .csv"],
                 BatchRef("", "20230828"), "orders", "orders_20230828.csv", id="no-extension"),
    pytest.param("old_orders_20230828.csv",
                 ["the name must start with the kind: customers_, orders_ or items_"],
                 None, None, "<kind>_<batch id>.csv", id="text-before-kind"),
    pytest.param("readme.txt", ["the extension must be .csv, not .txt",
                                "the name must start with the kind: customers_, orders_ or items_"],
                 None, None, "<kind>_<batch id>.csv", id="no-kind-no-batch"),
    pytest.param("/orders_20230828.csv",
                 ["the folder has an empty name: the key starts with '/' or has '//' in it; "
                  "remove the extra '/'"], None, "orders", "orders_20230828.csv",
                 id="leading-slash"),
    pytest.param("a//orders_20230828.csv",
                 ["the folder has an empty name: the key starts with '/' or has '//' in it; "
                  "remove the extra '/'"], None, "orders", "orders_20230828.csv",
                 id="double-slash"),
    pytest.param("orders_20230828.csv\n",
                 ["the extension must be .csv, not .csv\n"],
                 BatchRef("", "20230828"), "orders", "orders_20230828.csv", id="trailing-newline"),
])
def test_a_misnamed_key_says_what_is_wrong_and_what_to_rename_it_to(key, reasons, batch, kind,
                                                                     rename_to):
    with pytest.raises(MisnamedObjectError) as caught:
        parse_object_key(key)

    error = caught.value
    assert error.file_name == key
    assert [p.reason for p in error.problems] == reasons
    assert (error.batch, error.kind) == (batch, kind)
    assert error.hint.startswith(f"Rename the file to {rename_to} and upload it again")
    assert error.hint.endswith(HOW)


def test_the_rename_hint_names_the_folder_to_upload_into():
    with pytest.raises(MisnamedObjectError) as caught:
        parse_object_key("partner-a/customers_x.CSV")

    assert str(caught.value) == (
        "partner-a/customers_x.CSV was rejected: the file: the extension must be lower-case "
        ".csv, not .CSV (value '.CSV'). Rename the file to customers_x.csv and upload it again "
        f"into partner-a/: {HOW}")
    assert caught.value.problems == [Problem(0, "", ".CSV", "the extension must be lower-case "
                                                            ".csv, not .CSV")]


@pytest.mark.parametrize("key, named", [
    ("part\uffffner/orders_b1.csv", "the non-character U+FFFF"),
    ("a/b\x01c/orders_b1.csv", "the control character U+0001"),
])
def test_a_folder_whose_name_no_message_can_carry_is_misnamed(key, named):
    # Every message of the batch names its folder, and SQS refuses these characters.
    with pytest.raises(MisnamedObjectError) as caught:
        parse_object_key(key)

    [problem] = caught.value.problems
    assert problem.reason == (f"the folder's name holds {named}, which no message can carry; "
                              f"upload into a folder without it")
    assert caught.value.batch is None


def test_a_key_made_from_a_long_upload_key_stays_within_s3_s_and_dynamodb_s_1024_bytes():
    short = within_key_limit("reports/p/orders_b1.csv", ".json")
    long_a = within_key_limit("unknown-names/" + "é" * 600 + "a", ".json")
    long_b = within_key_limit("unknown-names/" + "é" * 600 + "b", ".json")

    assert short == "reports/p/orders_b1.csv.json"  # as it was, when it fits
    for key in (long_a, long_b):
        assert len(key.encode()) <= 1024 and key.endswith(".json") and key.startswith("unknown-names/éé")
    assert long_a != long_b  # names differing at their end still make two keys
    assert within_key_limit("unknown-names/" + "é" * 600 + "a", ".json") == long_a  # the same each time


@pytest.mark.parametrize("char, named", [
    ("\u00a0", "the character U+00A0 (NO-BREAK SPACE)"),
    ("\u2028", "the character U+2028 (LINE SEPARATOR)"),
    ("\x1b", "the control character U+001B"),
])
def test_a_batch_id_s_invisible_character_is_named_for_what_it_is(char, named):
    with pytest.raises(MisnamedObjectError) as caught:
        parse_object_key(f"orders_b{char}1.csv")

    assert named in str(caught.value)
