"""The debugging routes through Chalice's test client: status, a customer's aggregate, publish again."""
from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import quote

import pytest
from chalice import IAMAuthorizer

from chalicelib.messages import from_json
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes


def upload_sample(sandbox, kinds=("customers", "orders", "items")) -> None:
    for kind in kinds:
        sandbox.upload(f"{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))


def test_every_route_requires_iam_authorization_when_deployed():
    from app import app
    assert set(app.routes) == {"/batches/{batch_id}", "/batches/{batch_id}/customers/{customer_id}",
                               "/batches/{batch_id}/publish"}
    for methods in app.routes.values():
        for entry in methods.values():
            assert isinstance(entry.authorizer, IAMAuthorizer), entry.view_name


def test_batch_status_shows_files_and_publication(sandbox):
    upload_sample(sandbox)

    response = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}")

    assert response.status_code == 200
    status = json.loads(response.body)
    assert [(f["kind"], f["outcome"], f["rows"]) for f in status["files"]] == [
        ("customers", "accepted", 3), ("orders", "accepted", 5), ("items", "accepted", 6)]
    assert status["published"] is True and status["revision"] == 1 and status["messages"] == 3


def test_an_unknown_batch_is_404_and_a_malformed_id_is_400(sandbox):
    missing = sandbox.client.http.get("/batches/19990101")
    malformed = sandbox.client.http.get("/batches/-bad")

    assert missing.status_code == 404
    assert "no file of batch 19990101 in the top of the bucket" in json.loads(missing.body)["Message"]
    assert malformed.status_code == 400
    assert "is not a batch id" in json.loads(malformed.body)["Message"]


def test_a_customer_aggregate_has_exact_amounts_before_publication(sandbox):
    upload_sample(sandbox)
    sandbox.receive_all()

    response = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}/customers/1")

    assert response.status_code == 200
    assert b'"total_amount_spent": 400.00' in response.body  # exact digits on the wire
    body = from_json(response.body.decode())
    assert body["name"] == "John Doe" and body["total_amount_spent"] == Decimal("400.00")
    assert [(o["id"], o["item_ids"]) for o in body["orders"]] == [("1001", ["501", "502"]), ("1002", ["503"])]


def test_a_customer_of_an_incomplete_batch_is_409_saying_what_is_missing(sandbox):
    upload_sample(sandbox, kinds=("customers", "orders"))

    response = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}/customers/1")

    assert response.status_code == 409
    assert "waiting for items" in json.loads(response.body)["Message"]


def test_an_unknown_customer_is_404(sandbox):
    upload_sample(sandbox)

    response = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}/customers/99")

    assert response.status_code == 404
    assert "customer '99' is not in the customers file" in json.loads(response.body)["Message"]


def test_publish_again_sends_every_customer_as_the_next_revision(sandbox):
    upload_sample(sandbox)
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH, revision=1)

    response = sandbox.client.http.post(f"/batches/{SAMPLE_BATCH}/publish")

    assert response.status_code == 200
    assert json.loads(response.body) == {"batch_id": SAMPLE_BATCH, "folder": "", "revision": 2,
                                         "messages": 3}
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH, revision=2)
    status = json.loads(sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}").body)
    assert status["revision"] == 2 and status["published"] is True


def test_publish_again_refuses_a_batch_that_was_never_published(sandbox):
    upload_sample(sandbox, kinds=("customers",))

    response = sandbox.client.http.post(f"/batches/{SAMPLE_BATCH}/publish")

    assert response.status_code == 409
    assert sandbox.receive_all() == []


def test_the_folder_query_parameter_names_the_batch_of_a_folder(sandbox):
    for kind in ("customers", "orders", "items"):
        sandbox.upload(f"partner-a/in/{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))
    sandbox.receive_all()

    status = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}?folder=partner-a/in")
    top = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}")
    customer = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}/customers/2?folder=partner-a/in")
    again = sandbox.client.http.post(f"/batches/{SAMPLE_BATCH}/publish?folder=partner-a/in")

    assert status.status_code == 200
    assert json.loads(status.body)["folder"] == "partner-a/in"
    assert top.status_code == 404  # the top of the bucket is another folder, with no such batch
    assert from_json(customer.body.decode())["folder"] == "partner-a/in"
    assert json.loads(again.body) == {"batch_id": SAMPLE_BATCH, "folder": "partner-a/in",
                                      "revision": 2, "messages": 3}
    assert {m["folder"] for m in sandbox.receive_all()} == {"partner-a/in"}


# Ids a partner may use that a URL path must percent-encode. API Gateway REST APIs
# (which Chalice deploys), `chalice local` and Chalice's test client all hand the
# route the path segment as the client sent it, still encoded.
ODD_IDS = ["a/b", "a b", "ü", "100%", "a+b", "%2F"]
ODD_BATCH = "20240101"


def upload_odd_ids(sandbox) -> None:
    customers = "customer_id,customer_name\n" + "".join(f"{i},Name {n}\n" for n, i in enumerate(ODD_IDS))
    sandbox.upload(f"customers_{ODD_BATCH}.csv", customers.encode("utf-8"))
    sandbox.upload(f"orders_{ODD_BATCH}.csv", "order_id,customer_id,amount\n1,ü,2.50\n".encode())
    sandbox.upload(f"items_{ODD_BATCH}.csv", b"item_id,order_id\n10,1\n")


@pytest.mark.parametrize("customer_id", ODD_IDS)
def test_a_percent_encoded_customer_id_is_decoded_once(sandbox, customer_id):
    upload_odd_ids(sandbox)

    response = sandbox.client.http.get(f"/batches/{ODD_BATCH}/customers/{quote(customer_id, safe='')}")

    assert response.status_code == 200, response.body
    assert from_json(response.body.decode())["id"] == customer_id


@pytest.mark.parametrize("customer_id", ["a b", "ü", "100% ü"])
def test_a_customer_id_that_arrives_decoded_is_taken_as_it_is(sandbox, customer_id):
    # What an HTTP API (or a client that does not encode) hands over: a space or
    # a non-ASCII character never appears in an encoded path, so it is not decoded again.
    upload_odd_ids(sandbox)
    sandbox.upload(f"customers_{ODD_BATCH}.csv", "customer_id,customer_name\na b,A\nü,U\n100% ü,P\n".encode())

    response = sandbox.client.http.get(f"/batches/{ODD_BATCH}/customers/{customer_id}")

    assert response.status_code == 200, response.body
    assert from_json(response.body.decode())["id"] == customer_id


def test_a_customer_id_whose_percent_escapes_are_not_utf8_is_400(sandbox):
    upload_odd_ids(sandbox)

    response = sandbox.client.http.get(f"/batches/{ODD_BATCH}/customers/caf%E9")

    assert response.status_code == 400
    assert json.loads(response.body)["Message"] == (
        "the customer id 'caf%E9' is not percent-encoded UTF-8 (%E9 is no UTF-8 character): "
        "encode the id's UTF-8 bytes, e.g. café as caf%C3%A9")
