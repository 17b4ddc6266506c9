"""The drops end to end on a private emulator: the pipeline, and on XS the original design too.

The emulator is provisioned as the sandbox provisions one (``provision``),
plus the baseline's table and queue. Each drop is uploaded, then its three
invocations run in a worker process (``worker``) while a consumer reads the
output queue; the messages read must match the drop's manifest (count and
exact total), else the bench stops there.
"""
from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from chalicelib.keys import KINDS
from scripts.baseline import OriginalDesignBaseline
from scripts.bench.clients import emulator_clients
from scripts.bench.consumer import Consumer
from scripts.bench.counting import key_attributes
from scripts.bench.drops import file_sizes, row_count
from scripts.bench.launch import BASELINE, PIPELINE, run_worker_process
from scripts.bench.private_emulator import PrivateEmulator
from scripts.bench.target import Target
from scripts.bench.worker import BASELINE_QUEUE, BASELINE_TABLE
from scripts.progress import Progress
from scripts.sandbox.state import client_env
from scripts.stage.provision import provision


def run_end_to_end(manifests: dict[str, dict], target: Target, bench_dir: Path) -> dict[str, dict]:
    """Each drop's run (and the XS baseline's, as ``XS baseline``), by name."""
    runs: dict[str, dict] = {}
    with PrivateEmulator(bench_dir / "emulator.log") as endpoint:
        clients = emulator_clients(endpoint)
        settings = target.settings
        resources = provision(settings, clients.s3, clients.dynamodb, clients.sqs)
        clients.dynamodb.create_table(**OriginalDesignBaseline.table_definition(BASELINE_TABLE))
        clients.sqs.create_queue(QueueName=BASELINE_QUEUE)
        workers = _Workers(target, worker_env(endpoint), bench_dir / "worker.log", clients.dynamodb)
        consumer = Consumer(resources.output_queue_url, clients.sqs, clients.s3)
        consumer.start()
        for size, manifest in manifests.items():
            keys = upload(clients.s3, settings.ingest_bucket, manifest)
            print(f"Running the pipeline on the {size} drop ...", flush=True)
            run = workers.run(PIPELINE, settings.table_name, keys)
            _check_published(size, manifest, consumer)
            sizes = file_sizes(manifest)
            runs[size] = {**run, "rows": row_count(manifest), "bytes": sum(sizes.values()),
                          "largest_file_bytes": max(sizes.values())}
            if size == "XS":
                print("Running the original design (baseline) on the XS drop ...", flush=True)
                baseline = workers.run(BASELINE, BASELINE_TABLE, keys)
                runs["XS baseline"] = {**baseline, "rows": runs["XS"]["rows"]}
        consumer.finish()
    return runs


def worker_env(endpoint: str) -> dict[str, str]:
    """The environment of a worker: this one's, pointed at the emulator, as Lambda's points at AWS."""
    env = {name: value for name, value in os.environ.items()
           if name != "AWS_PROFILE" and not name.startswith("AWS_ENDPOINT_URL_")}
    env.update(client_env(endpoint))
    # AWS_REGION is what Lambda sets, and what chalicelib.aws reads first.
    env.update(AWS_REGION=env["AWS_DEFAULT_REGION"], PYTHONUNBUFFERED="1")
    return env


class _Workers:
    """Starts the worker processes of one emulator's runs."""

    def __init__(self, target: Target, env: dict[str, str], log_path: Path, dynamodb) -> None:
        self._target = target
        self._env = env
        self._log_path = log_path
        self._dynamodb = dynamodb

    def run(self, design: str, table: str, keys: list[str]) -> dict:
        """The figures of ``design`` run on the uploaded ``keys``, writing to ``table``."""
        target = self._target
        # Asked here, not in the worker: its first DynamoDB client is the
        # handler's, built (and timed) in its first invocation, as in Lambda.
        table_key = key_attributes(self._dynamodb, table)
        return run_worker_process(
            ["--worker", design, "--stage", target.stage, "--handler", target.handler,
             "--table", table, "--table-key", ",".join(table_key),
             "--bucket", target.settings.ingest_bucket, "--keys", ",".join(keys)],
            self._env, f"the {design} worker", self._log_path)


def upload(s3, bucket: str, manifest: dict) -> list[str]:
    """Upload the drop's files to the top of ``bucket``; their keys, in the order of KINDS."""
    keys = []
    with Progress(sum(file_sizes(manifest).values()), f"uploading {manifest['batch_id']}",
                  unit="bytes") as bar:
        for kind in KINDS:
            path = Path(manifest["files"][kind])
            s3.upload_file(str(path), bucket, path.name, Callback=bar.advance)
            keys.append(path.name)
    return keys


def _check_published(size: str, manifest: dict, consumer: Consumer) -> None:
    batch_id = manifest["batch_id"]
    consumer.wait_for(batch_id, manifest["customers"])
    count = consumer.counts[batch_id]
    if consumer.duplicates:
        print(f"  (the consumer dropped {consumer.duplicates} repeated message(s) so far, "
              f"by idempotency key)", flush=True)
    total = consumer.totals.get(batch_id, Decimal("0"))
    if count != manifest["customers"] or total != Decimal(manifest["total_amount"]):
        raise SystemExit(f"{size}: published {count} messages totalling {total}; expected "
                         f"{manifest['customers']} totalling {manifest['total_amount']}")
