"""The deploy and destroy plans, with a recording command runner and no AWS client."""
from __future__ import annotations

import json

import pytest

from chalicelib.config import CHALICE_CONFIG
from chalicelib.errors import ConfigurationError
from scripts.deploy import main
from scripts.stage.config import S3_HANDLER, Target, load_stage
from scripts.stage.plan import Deployment
from scripts.stage.validate import check_policy, check_target

AWS = {"AWS_DEFAULT_REGION": "us-east-1"}
DEV_NAMES = ["order-pipeline-dev-ingest", "order-pipeline-dev-batches", "order-pipeline-dev-customers",
             "order-pipeline-dev-dead-letter", "order-pipeline-dev-on_csv_uploaded",
             "order-pipeline-dev ", "policy-dev.json"]


class Recorder:
    def __init__(self):
        self.commands: list[tuple[list[str], dict]] = []

    def __call__(self, argv, env):
        self.commands.append((list(argv), dict(env)))


def no_clients(service):
    raise AssertionError(f"a {service} client was asked for")


def run(args, environ=AWS, runner=None):
    lines: list[str] = []
    runner = runner or Recorder()
    code = main(args, environ=dict(environ), runner=runner, clients=no_clients, out=lines.append,
                sandbox=lambda: None)
    return code, "\n".join(lines), runner


def test_a_dry_run_prints_every_step_and_resource_and_calls_nothing():
    code, text, runner = run(["deploy", "--stage", "dev", "--dry-run"])

    assert code == 0 and runner.commands == []
    assert text.startswith("would deploy stage dev to AWS, region us-east-1")
    assert [line[:3] for line in text.splitlines() if line[:1].isdigit()] == ["1. ", "2. ", "3. "]
    for name in DEV_NAMES:
        assert name in text, name
    assert "MaximumRetryAttempts=2, MaximumEventAgeInSeconds=21600" in text
    assert "point-in-time recovery" in text and "X-Ray on" in text
    assert text.endswith("(dry run: nothing was called)")


def test_the_chalice_step_deploys_the_stage_in_the_target_region():
    stage = load_stage("dev")
    runner = Recorder()
    deployment = Deployment(stage, Target("eu-west-1", ""), runner=runner, clients=no_clients,
                            environ={"PATH": "/bin"}, out=lambda _: None)

    deployment.deploy_plan()[1].run()

    (argv, env), = runner.commands
    assert argv[-3:] == ["deploy", "--stage", "dev"] and argv[0].endswith("chalice")
    assert env == {"PATH": "/bin", "AWS_DEFAULT_REGION": "eu-west-1", "CHALICE_STAGE": "dev"}


def test_destroy_without_confirmation_deletes_the_app_and_keeps_the_data():
    runner = Recorder()
    deployment = Deployment(load_stage("dev"), Target("us-east-1", ""), runner=runner,
                            clients=no_clients, environ={}, out=lambda _: None)

    steps = deployment.destroy_plan(delete_data=False)
    for step in steps:
        step.run()

    assert [argv[-3:] for argv, _ in runner.commands] == [["delete", "--stage", "dev"]]
    assert "keep the data" in steps[-1].title and "CONFIRM=delete-data" in steps[-1].title


def test_destroy_with_confirmation_checks_the_bucket_first_and_deletes_it_last():
    code, text, runner = run(["destroy", "--stage", "dev", "--dry-run", "--confirm", "delete-data"])

    steps = [line for line in text.splitlines() if line[:1].isdigit()]
    assert code == 0 and runner.commands == []
    assert "check that buckets order-pipeline-dev-ingest and order-pipeline-dev-results are empty" in steps[0]
    assert "chalice delete --stage dev" in steps[1]
    assert "delete buckets order-pipeline-dev-ingest and order-pipeline-dev-results" in steps[-1]


def test_an_unknown_confirmation_is_refused(capsys):
    code, _, runner = run(["destroy", "--stage", "dev", "--confirm", "yes"])

    assert code == 1 and runner.commands == []
    assert "CONFIRM='yes' is not understood" in capsys.readouterr().err


def test_the_local_stage_is_refused_without_an_emulator_endpoint(capsys):
    code, _, runner = run(["deploy", "--stage", "local"])

    assert code == 1 and runner.commands == []
    assert "AWS_ENDPOINT_URL is not set, so this would deploy it to your AWS account" in \
        capsys.readouterr().err


def test_an_aws_stage_is_refused_with_a_leftover_endpoint_unless_allowed():
    stage = load_stage("dev")
    target = Target.from_environment({**AWS, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})

    with pytest.raises(ConfigurationError, match="unset AWS_ENDPOINT_URL.*ALLOW_ENDPOINT=1"):
        check_target(stage, target, allow_endpoint=False)
    check_target(stage, target, allow_endpoint=True)
    check_target(load_stage("local"), target, allow_endpoint=False)


def test_a_service_endpoint_variable_counts_as_an_endpoint_too():
    target = Target.from_environment({**AWS, "AWS_ENDPOINT_URL_S3": "http://localhost:4566"})

    assert target.endpoint == "AWS_ENDPOINT_URL_S3=http://localhost:4566"


def test_no_region_is_refused():
    with pytest.raises(ConfigurationError, match="no AWS region: set AWS_DEFAULT_REGION"):
        check_target(load_stage("dev"), Target.from_environment({}), allow_endpoint=False)


def test_a_policy_for_another_region_is_refused_before_anything_runs(capsys):
    code, _, runner = run(["deploy", "--stage", "dev"], environ={"AWS_DEFAULT_REGION": "eu-west-1"})

    assert code == 1 and runner.commands == []
    assert "its ARNs name region(s) us-east-1, but the deploy goes to eu-west-1" in capsys.readouterr().err


def test_the_committed_policies_fit_their_stages():
    for name in ("local", "dev"):
        check_policy(load_stage(name), "us-east-1")


def write_stage(tmp_path, change) -> str:
    config = json.loads(CHALICE_CONFIG.read_text())
    change(config["stages"]["dev"])
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "policy-dev.json").write_text((CHALICE_CONFIG.parent / "policy-dev.json").read_text())
    return tmp_path / "config.json"


def test_a_policy_that_misses_the_stage_bucket_is_refused(tmp_path):
    path = write_stage(tmp_path, lambda s: s["environment_variables"].update(
        INGEST_BUCKET="order-pipeline-dev-ingest-a1b2"))

    with pytest.raises(ConfigurationError, match="does not grant s3:GetObject on "
                                                 "arn:aws:s3:::order-pipeline-dev-ingest-a1b2/"):
        check_policy(load_stage("dev", path), "us-east-1")


def test_xray_on_without_its_grant_is_refused(tmp_path):
    path = write_stage(tmp_path, lambda s: s.update(xray=False))

    with pytest.raises(ConfigurationError, match="xray is false for the stage but X-Ray's put "
                                                 "calls are granted"):
        check_policy(load_stage("dev", path), "us-east-1")


@pytest.mark.parametrize("key, value", [("maximum_retry_attempts", 3),
                                        ("maximum_event_age_seconds", 59),
                                        ("maximum_event_age_seconds", None)])
def test_invoke_settings_outside_lambdas_limits_are_refused(tmp_path, key, value):
    path = write_stage(tmp_path, lambda s: s["async_invocation"].update({key: value}))

    with pytest.raises(ConfigurationError, match=f"async_invocation.{key} of stage 'dev'"):
        load_stage("dev", path)


def test_the_handler_whose_events_are_configured_is_the_apps_s3_handler():
    from app import app
    assert [source.name for source in app.event_sources] == [S3_HANDLER]
