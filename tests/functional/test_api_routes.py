"""The debugging routes through Chalice's test client: status, a customer's aggregate, publish again."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from chalice import IAMAuthorizer

from chalicelib.messages import from_json
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


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
    assert "no file of batch '19990101'" in json.loads(missing.body)["Message"]
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
    assert json.loads(response.body) == {"batch_id": SAMPLE_BATCH, "revision": 2, "messages": 3}
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH, revision=2)
    status = json.loads(sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}").body)
    assert status["revision"] == 2 and status["published"] is True


def test_publish_again_refuses_a_batch_that_was_never_published(sandbox):
    upload_sample(sandbox, kinds=("customers",))

    response = sandbox.client.http.post(f"/batches/{SAMPLE_BATCH}/publish")

    assert response.status_code == 409
    assert sandbox.receive_all() == []
