"""CHAOS and CHAOS_SEED: what they turn on, what they refuse, and that a seed repeats the faults."""
from __future__ import annotations

import json

import pytest

from scripts.sandbox.chaos.delivery import ChaosDelivery
from scripts.sandbox.chaos.settings import FAULTS, Chaos, ChaosSpecError


def test_all_turns_every_fault_on_at_its_default_rate_and_off_turns_them_off():
    every = Chaos.parse("all", seed=3)
    assert every.rates == {name: rate for name, (rate, _) in FAULTS.items()}
    assert every.on and "CHAOS_SEED=3" in every.describe()
    assert not Chaos.parse("off").on and not Chaos.parse("").on and Chaos.parse("").describe() == "off"


def test_faults_can_be_named_with_rates_and_read_back_from_what_the_state_keeps():
    chaos = Chaos.parse("duplicate, kill=0.5", seed=9)
    assert chaos.rates == {"duplicate": FAULTS["duplicate"][0], "kill": 0.5}
    assert Chaos.parse(chaos.spec(), 9) == chaos
    assert Chaos.from_dict(json.loads(json.dumps(chaos.as_dict()))) == chaos


@pytest.mark.parametrize("spec, said", [
    ("dupliate", "'dupliate' is no fault of chaos mode; say all, or some of duplicate, late"),
    ("kill=2", "the rate of kill must be a number from 0 to 1, e.g. kill=0.2"),
    ("kill=lots", "the rate of kill must be a number from 0 to 1"),
])
def test_a_setting_that_makes_no_sense_is_refused_with_what_to_say(spec, said):
    with pytest.raises(ChaosSpecError, match=said):
        Chaos.parse(spec)


def test_the_same_seed_decides_the_same_faults_and_another_seed_others():
    def decisions(seed):
        chaos = Chaos.parse("duplicate=0.5", seed)
        return [chaos.happens("duplicate", f"key-{n}", 1) for n in range(200)]
    assert decisions(1) == decisions(1)
    assert decisions(1) != decisions(2)
    assert 60 < sum(decisions(1)) < 140  # about half


class Queue:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.deleted: list[str] = []

    def send_message(self, **kwargs):
        self.sent.append(kwargs)

    def delete_message(self, QueueUrl, ReceiptHandle):
        self.deleted.append(ReceiptHandle)


def s3_message(key: str, receipt: str = "r1", copy: str = "") -> dict:
    body = json.dumps({"Records": [{"s3": {"object": {"key": key, "eTag": "e"}}}]})
    attributes = {"chaos": {"DataType": "String", "StringValue": copy}} if copy else {}
    return {"Body": body, "ReceiptHandle": receipt, "MessageAttributes": attributes}


def test_a_late_event_goes_back_to_the_queue_and_a_duplicate_is_sent_again_once():
    late, duplicated = Queue(), Queue()
    assert not ChaosDelivery(Chaos.parse("late=1"), late, "url").take(s3_message("a/orders_1.csv"))
    assert late.deleted == ["r1"] and late.sent[0]["MessageAttributes"]["chaos"]["StringValue"] == "late"
    assert 1 <= late.sent[0]["DelaySeconds"] <= 8

    delivery = ChaosDelivery(Chaos.parse("duplicate=1"), duplicated, "url")
    assert delivery.take(s3_message("a/orders_1.csv"))
    [copy] = duplicated.sent
    assert copy["MessageBody"] == s3_message("a/orders_1.csv")["Body"]  # S3's own JSON, again
    assert delivery.take(s3_message("a/orders_1.csv", "r2", copy="duplicate"))
    assert len(duplicated.sent) == 1  # a copy is not copied again


def test_an_event_received_before_is_lambda_s_retry_and_gets_no_delivery_fault():
    # Handed back by a runner that stopped mid-invocation: a late copy would be a new message,
    # a new request id, and the retry of the publication it was sending would be lost.
    queue = Queue()
    delivery = ChaosDelivery(Chaos.parse("late=1,duplicate=1"), queue, "url")
    again = {**s3_message("a/items_1.csv"), "Attributes": {"ApproximateReceiveCount": "2"}}

    assert delivery.take(again)
    assert queue.sent == [] and queue.deleted == []


def test_what_is_not_an_upload_is_delivered_as_it_is():
    queue = Queue()
    delivery = ChaosDelivery(Chaos.parse("late=1,duplicate=1"), queue, "url")
    assert delivery.take({"Body": json.dumps({"Event": "s3:TestEvent"}), "ReceiptHandle": "r"})
    assert delivery.take({"Body": "not json", "ReceiptHandle": "r"})
    assert queue.sent == [] and queue.deleted == []
