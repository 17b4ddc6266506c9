"""The Chalice app: wires S3 events and HTTP routes to chalicelib/, where the logic lives."""
from chalice import Chalice, IAMAuthorizer

from chalicelib import api
from chalicelib.config import ingest_bucket_for_app
from chalicelib.wiring import pipeline_from_environment

# Logs are Powertools' JSON (chalicelib/telemetry.py); Chalice's own plain-text
# handler on the same logger name would print every line twice.
app = Chalice(app_name="order-pipeline", configure_logs=False)

# Deployed routes take only SigV4-signed requests from principals the account
# allows; `chalice local` and the test client admit every request (with a warning).
iam = IAMAuthorizer()


# No suffix filter: S3's is case-sensitive, and a partner's `customers_x.CSV`
# must get a report, not silence. The pipeline's own reports and payloads go to
# the results bucket, so nothing here invokes the handler for nothing.
@app.on_s3_event(bucket=ingest_bucket_for_app(), events=["s3:ObjectCreated:*"])
def on_csv_uploaded(event):
    """An object landed: process the file, report a bad name, publish if the batch is complete."""
    context = event.context
    return pipeline_from_environment().process_record(
        event.to_dict()["Records"][0], invocation_id=context.aws_request_id,
        remaining_ms=context.get_remaining_time_in_millis).as_dict()


def _batch(batch_id):
    """The batch a route names; its folder is ``?folder=`` (the key's prefix)."""
    request = app.current_request
    assert request is not None  # Chalice sets it before it calls a route's handler
    # batch_ref reads one value per name; a MultiDict's is the last, and so is the dict's.
    query = None if request.query_params is None else dict(request.query_params)
    return api.batch_ref(batch_id, query)


@app.route("/batches/{batch_id}", methods=["GET"], authorizer=iam)
def get_batch(batch_id):
    """Files seen, rejects, orphans, publication and revision of a batch."""
    return api.get_batch(_batch(batch_id))


@app.route("/batches/{batch_id}/customers/{customer_id}", methods=["GET"], authorizer=iam)
def get_customer(batch_id, customer_id):
    """A customer's message as the batch's current files make it."""
    return api.get_customer(_batch(batch_id), customer_id)


@app.route("/batches/{batch_id}/publish", methods=["POST"], authorizer=iam)
def publish_batch(batch_id):
    """Publish a published batch again, as a new revision."""
    return api.publish_again(_batch(batch_id))
