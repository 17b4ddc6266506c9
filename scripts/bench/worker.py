"""One end-to-end run in a process of its own: the handler (or the original design) on a drop's files.

The parent starts it (``launch``) with the emulator's endpoint in its
environment, as Lambda gives the function its settings, so the handler's
clients come from ``chalicelib.aws`` exactly as in Lambda. The pipeline runs
through Chalice's own Lambda wrapper (its test client), one invocation a file
with the event S3 would send; the baseline runs ``scripts/baseline.py``. The
figures go to a JSON file for the parent: wall time, peak RSS, API calls per
operation and DynamoDB write units.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from chalicelib import aws
from chalicelib.config import PROJECT_DIR
from scripts.bench.counting import ApiCalls, WriteUnits
from scripts.bench.launch import PIPELINE
from scripts.sandbox.memory import own_peak_mb

BASELINE_TABLE = "order-pipeline-baseline"
BASELINE_QUEUE = "order-pipeline-baseline"


def run_worker(design: str, stage: str, handler: str, table: str, table_key: tuple[str, ...], bucket: str,
               keys: list[str], result_path: Path) -> None:
    """Run ``design`` on the objects ``keys`` of ``bucket``; write its figures to ``result_path``.

    ``table`` is the one the design writes to, ``table_key`` the names of its
    key attributes; ``handler`` is the function the pipeline's uploads invoke
    in ``stage``.
    """
    units = WriteUnits({table: table_key})
    aws.on_api_params(units)
    calls = ApiCalls()
    if design == PIPELINE:
        figures = _run_pipeline(stage, handler, bucket, keys, calls)
    else:
        figures = _run_baseline(bucket, keys, calls)
    result_path.write_text(json.dumps({
        **figures,
        "peak_rss_mb": own_peak_mb(),
        "write_units": units.units,
        "calls": dict(calls.counts),
    }))


def _run_pipeline(stage: str, handler: str, bucket: str, keys: list[str], calls: ApiCalls) -> dict:
    from chalice.test import Client

    from app import app
    outcomes = []
    rss_after: list[float] = []
    seconds_per_file: list[float] = []
    started = time.perf_counter()
    s3 = aws.client("s3")
    with Client(app, stage_name=stage, project_dir=str(PROJECT_DIR)) as client:
        for number, key in enumerate(keys, 1):
            head = s3.head_object(Bucket=bucket, Key=key)  # what S3 puts in the event
            event = client.events.generate_s3_event(bucket=bucket, key=key)
            event["Records"][0]["s3"]["object"].update(
                eTag=head["ETag"].strip('"'), size=head["ContentLength"], sequencer=f"{number:016X}")
            stop = aws.on_api_call(calls)
            invoked = time.perf_counter()
            try:
                outcomes.append(client.lambda_.invoke(handler, event).payload)
            finally:
                stop()
            seconds_per_file.append(time.perf_counter() - invoked)
            # The process's peak so far: after the first two files it is what
            # processing a file takes; after the last, publication too.
            rss_after.append(own_peak_mb())
    return {"wall_s": time.perf_counter() - started, "peak_rss_mb_after_each_file": rss_after,
            "seconds_per_file": seconds_per_file, "outcomes": outcomes}


def _run_baseline(bucket: str, keys: list[str], calls: ApiCalls) -> dict:
    from scripts.baseline import OriginalDesignBaseline
    sqs = aws.client("sqs")
    baseline = OriginalDesignBaseline(aws.client("s3"), aws.client("dynamodb"), sqs, BASELINE_TABLE,
                                      sqs.get_queue_url(QueueName=BASELINE_QUEUE)["QueueUrl"])
    started = time.perf_counter()  # the queue URL lookup is set-up, not the algorithm
    stop = aws.on_api_call(calls)
    for key in keys:
        baseline.process(bucket, key)
    stop()
    return {"wall_s": time.perf_counter() - started, "peak_rss_mb_after_each_file": [],
            "seconds_per_file": [], "outcomes": []}
