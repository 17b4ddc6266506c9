"""The Chalice app: wires S3 events to the pipeline. Logic lives in chalicelib/."""
from chalice import Chalice

from chalicelib.config import ingest_bucket_for_app
from chalicelib.wiring import pipeline_from_environment

# Logs are Powertools' JSON (chalicelib/telemetry.py); Chalice's own plain-text
# handler on the same logger name would print every line twice.
app = Chalice(app_name="order-pipeline", configure_logs=False)


@app.on_s3_event(bucket=ingest_bucket_for_app(), events=["s3:ObjectCreated:*"], suffix=".csv")
def on_csv_uploaded(event):
    """A customers, orders or items file landed: process it, publish if the batch is complete."""
    return pipeline_from_environment().process_record(
        event.to_dict()["Records"][0], invocation_id=event.context.aws_request_id).as_dict()
