"""A Chalice app that misbehaves on request, for the runner's tests (RUNNER_PROJECT_DIR).

What its S3 handler does depends on the object's key:
``sleep-<seconds>.txt`` sleeps, ``exit-once-<name>.txt`` ends its process with
``os._exit(1)`` the first time (a marker in $MISBEHAVING_DIR remembers),
``alloc-<MB>.txt`` fills that much memory, anything else returns at once.
Each answer says how many invocations this process has handled, so a test can
see environments being reused.
"""
import os
import time
from pathlib import Path

from chalice import Chalice

app = Chalice(app_name="misbehaving")
HANDLED = {"count": 0}  # module state: survives from one invocation to the next, as in Lambda


@app.on_s3_event(bucket="order-pipeline-local-ingest", events=["s3:ObjectCreated:*"])
def on_csv_uploaded(event):
    HANDLED["count"] += 1
    name = event.key.rsplit("/", 1)[-1].removesuffix(".txt")
    if name.startswith("sleep-"):
        time.sleep(float(name.removeprefix("sleep-")))
    elif name.startswith("exit-once-"):
        marker = Path(os.environ["MISBEHAVING_DIR"]) / name
        if not marker.exists():
            marker.touch()
            os._exit(1)
    elif name.startswith("alloc-"):
        # Held through the sleep, for the watchdog to see.
        filled = b"x" * (int(name.removeprefix("alloc-")) * 1024 * 1024)
        time.sleep(0.5)
        del filled
    return {"status": "done", "key": event.key, "pid": os.getpid(),
            "handled_here": HANDLED["count"]}
