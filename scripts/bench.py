"""``make bench``: the pipeline end to end on the embedded emulator, against the original design.

For each drop size it generates the files (seeded, cached under .sandbox/bench),
uploads them to a private emulator, and runs the three invocations in a fresh
worker process through Chalice's own Lambda wrapper, as the local event runner
does. The worker counts AWS API calls with botocore's event hooks (per
operation) and reports its wall time and peak RSS; the parent then checks the
published messages against the generator's manifest (customer count and exact
total). It counts DynamoDB write units from the requests themselves, by
DynamoDB's rule (``chalicelib.item_sizes``: ceil(item bytes / 1 KB) per item
put, updated or deleted), as moto answers ``ReturnConsumedCapacity`` with a
constant. On the XS drop it also runs the original design's algorithm
(scripts/baseline.py) on the same emulator. In process, it measures parse +
validate + aggregate against a bare ``csv.reader`` loop over the same files,
and, for every drop, the handler's own work with no emulator (time and peak
RSS). Every drop, L included, also runs end to end on the emulator.

The last line printed is one JSON object with the headline figures.

    python -m scripts.bench                # XS (with the baseline), S, M
    python -m scripts.bench --sizes L      # XS, and L (100,000 / 1,000,000 / 3,000,000)
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

from chalicelib import aws, wiring
from chalicelib.aggregation import BatchSummary
from chalicelib.config import DEFAULT_MAX_FILE_BYTES, PROJECT_DIR, Settings
from chalicelib.item_sizes import item_size, write_units
from chalicelib.parsing import parse_rows
from chalicelib.partitioning import batch_messages, partition_count
from scripts.generate import generate
from scripts.progress import Progress
from scripts.sandbox.memory import own_peak_mb
from scripts.sandbox.provision import provision

DROPS = {  # customers, orders, items
    "XS": (100, 500, 1_500),
    "S": (1_000, 5_000, 15_000),
    "M": (10_000, 100_000, 300_000),
    "L": (100_000, 1_000_000, 3_000_000),
}
KINDS = ("customers", "orders", "items")
BENCH_DIR = PROJECT_DIR / ".sandbox" / "bench"
BASELINE_TABLE = "order-pipeline-baseline"
BASELINE_QUEUE = "order-pipeline-baseline"
CHUNK = 1024 * 1024


# --- the worker: runs the handler (or the baseline) in a process of its own ------
class WriteUnits:
    """DynamoDB write units of the calls made, from their parameters (DynamoDB's rule).

    A put costs its item's size; a delete the size of the item deleted (known
    here when this process put it, else counted as one unit); an update the
    size of the item it leaves, counted from what the update sets (a lower
    bound: the items updated here are under 1 KB, so one unit each).
    """

    def __init__(self) -> None:
        self.units = 0
        self._sizes: dict[tuple, int] = {}
        self._lock = threading.Lock()  # the store writes from several threads

    def __call__(self, service: str, operation: str, params: dict) -> None:
        if service != "dynamodb":
            return
        with self._lock:
            if operation == "BatchWriteItem":
                for requests in params["RequestItems"].values():
                    for request in requests:
                        if "PutRequest" in request:
                            self._put(request["PutRequest"]["Item"])
                        else:
                            self._delete(request["DeleteRequest"]["Key"])
            elif operation == "PutItem":
                self._put(params["Item"])
            elif operation == "DeleteItem":
                self._delete(params["Key"])
            elif operation == "UpdateItem":
                self.units += write_units(item_size(params["Key"]) + sum(
                    item_size({"v": value}) for value in params.get("ExpressionAttributeValues", {}).values()))

    def _put(self, item: dict) -> None:
        size = item_size(item)
        self._sizes[_key_of(item)] = size
        self.units += write_units(size)

    def _delete(self, key: dict) -> None:
        self.units += write_units(self._sizes.pop(_key_of(key), 0))


def _key_of(item: dict) -> tuple:
    # The pipeline's table is keyed pk/sk; the baseline's table otherwise (its deletes
    # are then one unit each, DynamoDB's minimum).
    return tuple(str(item.get(name)) for name in ("pk", "sk"))


def run_worker(design: str, bucket: str, keys: list[str], result_path: Path) -> None:
    calls: Counter[str] = Counter()
    units = WriteUnits()
    aws.on_api_params(units)
    outcomes = []
    rss_after: list[float] = []
    seconds_per_file: list[float] = []
    started = time.perf_counter()
    if design == "pipeline":
        from chalice.test import Client

        from app import app
        s3 = aws.client("s3")
        with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as client:
            for number, key in enumerate(keys, 1):
                head = s3.head_object(Bucket=bucket, Key=key)  # what S3 puts in the event
                event = client.events.generate_s3_event(bucket=bucket, key=key)
                event["Records"][0]["s3"]["object"].update(
                    eTag=head["ETag"].strip('"'), size=head["ContentLength"], sequencer=f"{number:016X}")
                stop = aws.on_api_call(lambda service, operation: calls.update([f"{service}.{operation}"]))
                invoked = time.perf_counter()
                try:
                    outcomes.append(client.lambda_.invoke("on_csv_uploaded", event).payload)
                finally:
                    stop()
                seconds_per_file.append(time.perf_counter() - invoked)
                # The process's peak so far: after the first two files it is what
                # processing a file takes; after the last, publication too.
                rss_after.append(own_peak_mb())
    else:
        from scripts.baseline import OriginalDesignBaseline
        sqs = aws.client("sqs")
        baseline = OriginalDesignBaseline(aws.client("s3"), aws.client("dynamodb"), sqs, BASELINE_TABLE,
                                          sqs.get_queue_url(QueueName=BASELINE_QUEUE)["QueueUrl"])
        started = time.perf_counter()  # the queue URL lookup is set-up, not the algorithm
        stop = aws.on_api_call(lambda service, operation: calls.update([f"{service}.{operation}"]))
        for key in keys:
            baseline.process(bucket, key)
        stop()
    result_path.write_text(json.dumps({
        "wall_s": time.perf_counter() - started,
        "peak_rss_mb": own_peak_mb(),
        "peak_rss_mb_after_each_file": rss_after,
        "seconds_per_file": seconds_per_file,
        "write_units": units.units,
        "calls": dict(calls),
        "outcomes": outcomes,
    }))


def run_in_process_worker(manifest: dict, result_path: Path) -> None:
    """The handler's own work on a drop, with local files in place of S3 and DynamoDB.

    Each file is parsed as its invocation streams it (rows dropped, as the store
    sends them on in groups of 25); then the publication joins the batch as the
    last invocation does (rows parsed again stand in for the store's paged
    reads) and writes every message's JSON. No emulator: this is the L drop's
    memory and CPU figure, which moto cannot give (its Query reads the whole
    table for every page, so an L publication would take many hours on it).
    """
    import app  # noqa: F401  the handler's process has Chalice and boto3 loaded too
    from chalicelib.messages import to_json

    files = manifest["files"]
    rows = manifest["customers"] + manifest["orders"] + manifest["items"]
    rss_after: list[float] = []
    spill = DiskSampler(Path(tempfile.gettempdir()))
    spill.start()
    started = time.perf_counter()
    for kind in KINDS:
        for _row in parse_rows(kind, _file_chunks(files[kind]), kind):
            pass
        rss_after.append(own_peak_mb())
    ingested = time.perf_counter()
    summary = BatchSummary()
    published = 0
    for message in batch_messages(manifest["batch_id"], 1,
                                  *(parse_rows(kind, _file_chunks(files[kind]), kind) for kind in KINDS),
                                  partitions=partition_count(rows), summary=summary):
        to_json(message)
        published += 1
    rss_after.append(own_peak_mb())
    result_path.write_text(json.dumps({
        "ingest_s": ingested - started, "publish_s": time.perf_counter() - ingested,
        "partitions": partition_count(rows), "messages": published,
        "tmp_peak_mb": spill.stop(),
        "peak_rss_mb_after_each_step": rss_after, "peak_rss_mb": own_peak_mb()}))


class DiskSampler:
    """The peak size of what the handler spills to its temporary directory (/tmp in Lambda)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._before = self._size()
        self._peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _size(self) -> int:
        total = 0
        for path in self._directory.rglob("*"):
            try:
                total += path.stat().st_size if path.is_file() else 0
            except OSError:
                pass  # removed while walking
        return total

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self._peak = max(self._peak, self._size() - self._before)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self._peak / 1024 / 1024


def _file_chunks(path: str):
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            yield block


# --- the parent -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_emulator(port: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "scripts.sandbox.emulator", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_DIR)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the emulator exited at start-up; see {log_path}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the emulator did not answer on port {port} within 30 s; see {log_path}")


def drop_files(size: str) -> dict:
    customers, orders, items = DROPS[size]
    batch = f"bench-{size.lower()}"
    manifest_path = BENCH_DIR / "data" / batch / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if (manifest["customers"], manifest["orders"], manifest["items"]) == (customers, orders, items):
            return manifest
    from dataclasses import asdict
    return asdict(generate(BENCH_DIR / "data", batch, customers, orders, items, seed=1))


def upload(s3, bucket: str, manifest: dict) -> list[str]:
    keys = []
    total = sum(Path(manifest["files"][kind]).stat().st_size for kind in KINDS)
    with Progress(total, f"uploading {manifest['batch_id']}", unit="bytes") as bar:
        for kind in KINDS:
            path = Path(manifest["files"][kind])
            s3.upload_file(str(path), bucket, path.name,
                           Callback=bar.advance)
            keys.append(path.name)
    return keys


def run_in_worker(design: str, bucket: str, keys: list[str], env: dict[str, str]) -> dict:
    return _run_worker(["--worker", design, "--bucket", bucket, "--keys", ",".join(keys)], env,
                       f"the {design} worker")


def run_in_process(size: str) -> dict:
    # A temporary directory of its own, so that its size is the handler's spill alone.
    spill_dir = BENCH_DIR / "tmp"
    spill_dir.mkdir(parents=True, exist_ok=True)
    return _run_worker(["--worker", "in-process", "--drop", size],
                       {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "TMPDIR": str(spill_dir)},
                       f"the in-process worker on the {size} drop")


def _run_worker(arguments: list[str], env: dict[str, str], name: str) -> dict:
    """Run ``scripts.bench`` with ``arguments`` in a fresh process; return what it wrote."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    log_path = BENCH_DIR / "worker.log"
    with open(log_path, "ab") as log:
        done = subprocess.run([sys.executable, "-m", "scripts.bench", *arguments, "--result", str(result_path)],
                              cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}); see {log_path}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    return result


class Consumer:
    """Reads and deletes the output queue while the pipeline publishes, as downstream would.

    Several readers, because on the emulator one cannot keep up: moto walks a
    queue's whole message list on each send, receive and delete, so a queue
    that one reader lets grow slows every call down until it never catches up
    (measured: one reader had taken 3,050 of 8,000 messages after 580 s; three
    readers kept the queue near empty and took all 10,000 in 20 s). AWS has
    no such cost.
    """

    def __init__(self, queue_url: str, readers: int = 3) -> None:
        self._queue_url = queue_url
        self._stop_when_empty = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._read, daemon=True) for _ in range(readers)]
        self.counts: Counter[str] = Counter()
        self.totals: dict[str, Decimal] = {}
        self.error: BaseException | None = None
        self.duplicates = 0
        self._seen: set[str] = set()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def is_alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _read(self) -> None:
        from chalicelib.messages import from_json
        from chalicelib.payloads import read_body
        sqs, s3 = aws.client("sqs"), aws.client("s3")  # botocore clients are thread-safe
        try:
            while True:
                # A long visibility timeout: on a busy emulator a delete can come
                # later than SQS's default 30 s, and the message would be received
                # again, and dead-lettered after five receives.
                messages = sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10,
                                               WaitTimeSeconds=1, VisibilityTimeout=900,
                                               MessageAttributeNames=["idempotency_key"]
                                               ).get("Messages", [])
                if not messages:
                    if self._stop_when_empty.is_set():
                        return
                    continue
                bodies = [(m["MessageAttributes"]["idempotency_key"]["StringValue"],
                           from_json(read_body(m["Body"], s3))) for m in messages]
                with self._lock:
                    for key, body in bodies:
                        # At least once: a message can arrive twice (moto's receive
                        # is not atomic across readers); count it once, as the
                        # idempotency key tells downstream to.
                        if key in self._seen:
                            self.duplicates += 1
                            continue
                        self._seen.add(key)
                        self.counts[body["batch_id"]] += 1
                        self.totals[body["batch_id"]] = (self.totals.get(body["batch_id"], Decimal("0"))
                                                         + body["total_amount_spent"])
                sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
        except BaseException as exc:  # reported by finish(), in the main thread
            self.error = exc

    def wait_for(self, batch_id: str, expected: int, stall_seconds: float = 120) -> None:
        """Until ``expected`` messages of the batch are read, or none came for ``stall_seconds``."""
        last_count, last_progress = -1, time.monotonic()
        while self.counts[batch_id] < expected and self.is_alive():
            if self.counts[batch_id] != last_count:
                last_count, last_progress = self.counts[batch_id], time.monotonic()
            elif time.monotonic() - last_progress > stall_seconds:
                return
            time.sleep(0.2)

    def finish(self) -> None:
        self._stop_when_empty.set()
        for thread in self._threads:
            thread.join(timeout=600)
        if self.error:
            raise self.error


def measure_parsing(manifest: dict) -> dict:
    """Rows/s of parse + validate + aggregate, and of a bare csv.reader loop, on one core."""
    rows = manifest["customers"] + manifest["orders"] + manifest["items"]

    best_ours = best_reader = float("inf")
    for _ in range(3):  # best of three: the figure least disturbed by the machine
        started = time.perf_counter()
        parsed = {kind: parse_rows(kind, _file_chunks(manifest["files"][kind]), kind) for kind in KINDS}
        # As the publication does: in memory, or in partitions for a batch too large for that.
        messages = batch_messages("parse", 1, parsed["customers"], parsed["orders"], parsed["items"],
                                  partitions=partition_count(rows), summary=BatchSummary())
        count = sum(1 for _ in messages)
        best_ours = min(best_ours, time.perf_counter() - started)
        assert count == manifest["customers"]
        started = time.perf_counter()
        for kind in KINDS:
            with open(manifest["files"][kind], encoding="utf-8", newline="") as handle:
                for _row in csv.reader(handle):
                    pass
        best_reader = min(best_reader, time.perf_counter() - started)
    return {"rows": rows, "parse_rows_per_s": rows / best_ours, "csv_reader_rows_per_s": rows / best_reader}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,M", help="drop sizes besides XS: any of S,M,L")
    parser.add_argument("--worker", choices=("pipeline", "baseline", "in-process"), help=argparse.SUPPRESS)
    parser.add_argument("--drop", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "in-process":
        run_in_process_worker(drop_files(args.drop), args.result)
        return 0
    if args.worker:
        run_worker(args.worker, args.bucket, args.keys.split(","), args.result)
        return 0

    sizes = ["XS"] + [s.strip().upper() for s in args.sizes.split(",") if s.strip().upper() != "XS"]
    unknown = [s for s in sizes if s not in DROPS]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}: choose from {', '.join(DROPS)}")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    manifests = {size: drop_files(size) for size in sizes}

    parse_drop = "M" if "M" in manifests else sizes[-1]
    print(f"Parse + validate + aggregate vs csv.reader on the {parse_drop} drop (one core) ...")
    parsing = measure_parsing(manifests[parse_drop])

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"  # a private emulator: nothing else shares its figures
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_REGION": "us-east-1", "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_PROFILE", None)
    os.environ.update({k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                           "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
    wiring.clear_cache()
    emulator = start_emulator(port, BENCH_DIR / "emulator.log")
    runs: dict[str, dict] = {}
    try:
        settings = Settings.for_stage("local")
        s3, sqs, dynamodb = aws.client("s3"), aws.client("sqs"), aws.client("dynamodb")
        resources = provision(settings, s3, dynamodb, sqs)
        from scripts.baseline import OriginalDesignBaseline
        dynamodb.create_table(**OriginalDesignBaseline.table_definition(BASELINE_TABLE))
        sqs.create_queue(QueueName=BASELINE_QUEUE)
        consumer = Consumer(resources.output_queue_url)
        consumer.start()
        for size in sizes:
            manifest = manifests[size]
            keys = upload(s3, settings.ingest_bucket, manifest)
            print(f"Running the pipeline on the {size} drop ...", flush=True)
            run = run_in_worker("pipeline", settings.ingest_bucket, keys, env)
            consumer.wait_for(manifest["batch_id"], manifest["customers"])
            count = consumer.counts[manifest["batch_id"]]
            if consumer.duplicates:
                print(f"  (the consumer dropped {consumer.duplicates} repeated message(s) so far, "
                      f"by idempotency key)", flush=True)
            total = consumer.totals.get(manifest["batch_id"], Decimal("0"))
            if count != manifest["customers"] or total != Decimal(manifest["total_amount"]):
                raise SystemExit(f"{size}: published {count} messages totalling {total}; expected "
                                 f"{manifest['customers']} totalling {manifest['total_amount']}")
            runs[size] = {**run, "rows": manifest["customers"] + manifest["orders"] + manifest["items"],
                          "bytes": sum(Path(manifest["files"][kind]).stat().st_size for kind in KINDS),
                          "largest_file_bytes": max(Path(manifest["files"][kind]).stat().st_size
                                                    for kind in KINDS)}
            if size == "XS":
                print("Running the original design (baseline) on the XS drop ...", flush=True)
                baseline = run_in_worker("baseline", settings.ingest_bucket, keys, env)
                runs["XS baseline"] = {**baseline, "rows": runs["XS"]["rows"]}
        consumer.finish()
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            emulator.kill()

    in_process = {}
    for size in sizes:
        print(f"The handler's work in process on the {size} drop (no emulator) ...", flush=True)
        in_process[size] = run_in_process(size)
    print_report(runs, parsing, parse_drop, in_process)
    return 0


def _per_1k(run: dict) -> float:
    return sum(run["calls"].values()) / (run["rows"] / 1000)


def _units_per_1k(run: dict) -> float:
    return run["write_units"] / (run["rows"] / 1000)


# Lambda gives CPU in proportion to memory: 1,769 MB is one full vCPU. The
# figures here are from one core of these machines, taken as one vCPU.
FULL_VCPU_MB = 1769
LAMBDA_SECONDS = 900
TMP_MB = 512  # Lambda's default ephemeral storage


def projection(run: dict, memory_mb: int, in_process: dict | None) -> dict:
    """One invocation in AWS for this drop, and the largest file that fits in 15 minutes twice over.

    The completing invocation is the longest: it processes its file and then
    publishes the whole batch. Its CPU time is the handler's time in process
    (no emulator: the emulator's own slowness is not AWS's), scaled by the CPU
    share ``memory_mb`` buys. Its calls are latency bound: at about 10 ms a
    DynamoDB call and 20 ms a SendMessageBatch, on 4 and 8 threads.
    """
    cpu_share = min(1.0, memory_mb / FULL_VCPU_MB)
    if in_process:
        cpu_s = (in_process["ingest_s"] + in_process["publish_s"]) / cpu_share
    else:
        cpu_s = sum(run["seconds_per_file"]) / cpu_share
    dynamodb_calls = sum(n for op, n in run["calls"].items() if op.startswith("dynamodb."))
    sends = run["calls"].get("sqs.SendMessageBatch", 0)
    calls_s = dynamodb_calls * 0.010 / 4 + sends * 0.020 / 8
    seconds = cpu_s + calls_s
    # Time and disk grow with the batch's bytes; a batch's files stand in the
    # same proportion as here. Both get a 2x margin.
    largest_share = run["largest_file_bytes"] / run["bytes"]
    by_time = int(run["bytes"] / seconds * (LAMBDA_SECONDS / 2) * largest_share)
    tmp_mb = in_process["tmp_peak_mb"] if in_process else 0.0
    # Half of /tmp holds a batch of (TMP_MB / 2) / (tmp_mb / batch bytes) bytes.
    by_disk = int(run["largest_file_bytes"] * (TMP_MB / 2) / tmp_mb) if tmp_mb else by_time
    return {"seconds": seconds, "cpu_s": cpu_s, "calls_s": calls_s, "tmp_mb": tmp_mb,
            "max_file_bytes_by_time": by_time, "max_file_bytes_by_disk": by_disk,
            "max_file_bytes": min(by_time, by_disk)}


def print_report(runs: dict[str, dict], parsing: dict, parse_drop: str, in_process: dict[str, dict]) -> None:
    print()
    print(f"{'run':<12}{'rows':>11}{'wall s':>9}{'rows/s':>10}{'peak RSS MB':>13}"
          f"{'API calls':>11}{'per 1k rows':>13}{'write units':>13}{'per 1k rows':>13}")
    for name, run in runs.items():
        calls = sum(run["calls"].values())
        print(f"{name:<12}{run['rows']:>11,}{run['wall_s']:>9.2f}{run['rows'] / run['wall_s']:>10,.0f}"
              f"{run['peak_rss_mb']:>13.0f}{calls:>11,}{_per_1k(run):>13.1f}"
              f"{run['write_units']:>13,}{_units_per_1k(run):>13.1f}")
    print()
    for name, run in runs.items():
        if run.get("peak_rss_mb_after_each_file"):
            print(f"{name}: peak RSS after customers, orders, items+publication: "
                  + ", ".join(f"{mb:.0f} MB" for mb in run["peak_rss_mb_after_each_file"])
                  + "; seconds per invocation: "
                  + ", ".join(f"{s:.1f}" for s in run["seconds_per_file"]))
    for name, run in runs.items():
        by_operation = ", ".join(f"{op} {n:,}" for op, n in sorted(run["calls"].items(), key=lambda x: -x[1]))
        print(f"{name}: {by_operation}")
    print()
    print("In process, no emulator (files parsed as streamed, then the batch joined and its JSON written):")
    for size, run in in_process.items():
        steps = ", ".join(f"{mb:.0f}" for mb in run["peak_rss_mb_after_each_step"])
        print(f"{size}: files {run['ingest_s']:.1f} s, publication {run['publish_s']:.1f} s in "
              f"{run['partitions']} partition(s), {run['messages']:,} messages; peak RSS after "
              f"customers, orders, items, publication: {steps} MB; at most "
              f"{run['tmp_peak_mb']:.0f} MB spilled to disk")
    memory_mb = _lambda_memory_mb()
    print()
    print(f"Projected for AWS at {memory_mb} MB ({min(1.0, memory_mb / FULL_VCPU_MB):.2f} vCPU), the "
          f"invocation that completes the batch:")
    projections = {}
    for size, run in runs.items():
        if size in in_process and size in ("M", "L"):  # smaller drops are fixed costs mostly
            projections[size] = p = projection(run, memory_mb, in_process[size])
            print(f"{size}: {p['seconds']:.0f} s ({p['cpu_s']:.0f} s CPU, {p['calls_s']:.0f} s calls), "
                  f"{p['tmp_mb']:.0f} MB of /tmp. With a 2x margin, 15 minutes fit a largest file of "
                  f"{p['max_file_bytes_by_time'] / 2**20:,.0f} MiB and 512 MB of /tmp one of "
                  f"{p['max_file_bytes_by_disk'] / 2**20:,.0f} MiB (MAX_FILE_BYTES: "
                  f"{DEFAULT_MAX_FILE_BYTES / 2**20:,.0f} MiB)")
    ours, baseline = runs["XS"], runs["XS baseline"]
    print()
    print(f"XS drop: the original design made {_per_1k(baseline) / _per_1k(ours):.1f}x the API calls "
          f"and took {baseline['wall_s'] / ours['wall_s']:.1f}x the wall time.")
    print(f"Parsing ({parse_drop} drop, {parsing['rows']:,} rows, one core): "
          f"{parsing['parse_rows_per_s']:,.0f} rows/s parse + validate + aggregate; "
          f"{parsing['csv_reader_rows_per_s']:,.0f} rows/s bare csv.reader "
          f"({parsing['parse_rows_per_s'] / parsing['csv_reader_rows_per_s']:.2f}x).")
    medium, large = runs.get("M"), runs.get("L")
    summary = {
        "calls_per_1k_rows": round(_per_1k(medium), 1) if medium else None,
        "write_units_per_1k_rows": round(_units_per_1k(medium), 1) if medium else None,
        "baseline_calls_per_1k_rows": round(_per_1k(baseline), 1),
        "xs_calls_per_1k_rows": round(_per_1k(ours), 1),
        "baseline_call_ratio": round(_per_1k(baseline) / _per_1k(ours), 1),
        "baseline_wall_ratio": round(baseline["wall_s"] / ours["wall_s"], 2),
        "parse_rows_per_s": round(parsing["parse_rows_per_s"]),
        "csv_reader_rows_per_s": round(parsing["csv_reader_rows_per_s"]),
        "m_wall_s": round(medium["wall_s"], 1) if medium else None,
        "m_peak_rss_mb": round(medium["peak_rss_mb"]) if medium else None,
    }
    if large:
        summary.update(l_wall_s=round(large["wall_s"], 1), l_peak_rss_mb=round(large["peak_rss_mb"]),
                       l_calls_per_1k_rows=round(_per_1k(large), 2),
                       l_write_units_per_1k_rows=round(_units_per_1k(large), 1))
    if "L" in in_process:
        large_in_process = in_process["L"]
        summary.update(l_in_process_s=round(large_in_process["ingest_s"] + large_in_process["publish_s"], 1),
                       l_in_process_peak_rss_mb=round(large_in_process["peak_rss_mb"]))
    if "L" in projections:
        summary.update(l_projected_aws_s=round(projections["L"]["seconds"]),
                       projected_max_file_bytes=projections["L"]["max_file_bytes"])
    print(json.dumps(summary))


def _lambda_memory_mb() -> int:
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    stage = config["stages"]["local"]
    function = stage.get("lambda_functions", {}).get("on_csv_uploaded", {})
    return int(function.get("lambda_memory_size", stage.get("lambda_memory_size", 128)))


if __name__ == "__main__":
    sys.exit(main())
