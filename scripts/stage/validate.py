"""The checks that refuse a deploy before it calls anything.

``check_target``: the stage goes where it is meant to (an AWS stage to AWS, the
sandbox's stage to an emulator). ``check_policy``: the stage's IAM policy file
is least privilege and grants the stage's own resources in the deploy's region.
"""
from __future__ import annotations

from chalicelib.config import CHALICE_CONFIG
from chalicelib.errors import ConfigurationError
from scripts.stage.config import EMULATOR_STAGES, Stage, Target
from scripts.stage.policy import RESOURCE_STAR_ACTIONS, allows, regions_named, wildcard_problems


def check_target(stage: Stage, target: Target, allow_endpoint: bool) -> None:
    """Refuse the mistakes that deploy to the wrong place."""
    if not target.region:
        raise ConfigurationError("no AWS region: set AWS_DEFAULT_REGION (make deploy REGION=...)")
    if stage.name in EMULATOR_STAGES and not target.endpoint:
        raise ConfigurationError(
            f"stage {stage.name!r} is the sandbox's stage and AWS_ENDPOINT_URL is not set, so this "
            f"would deploy it to your AWS account: start the sandbox first (make local-up; "
            f"make deploy STAGE={stage.name} then deploys into it), deploy an AWS stage "
            f"(make deploy STAGE=dev), or point AWS_ENDPOINT_URL at an emulator")
    if stage.name not in EMULATOR_STAGES and target.endpoint and not allow_endpoint:
        # Usually left over from `eval "$(make -s local-env)"` in this shell: the
        # user means AWS, and a "successful" deploy into the sandbox would mislead.
        raise ConfigurationError(
            f"stage {stage.name!r} deploys to AWS, but {target.endpoint} is set (often left over "
            f"from `eval \"$(make -s local-env)\"`): run `unset AWS_ENDPOINT_URL` first, or set "
            f"ALLOW_ENDPOINT=1 to deploy {stage.name!r} to that endpoint on purpose")


def check_policy(stage: Stage, region: str) -> None:
    """The policy file is least privilege and grants this stage's resources in ``region``."""
    where = stage.policy_path
    if stage.autogen_policy:
        raise ConfigurationError(f"stage {stage.name!r} has autogen_policy true in {CHALICE_CONFIG}: "
                                 f"set it to false so that Chalice uses {where.name}")
    other_regions = regions_named(stage.policy) - {region}
    if other_regions:
        raise ConfigurationError(
            f"{where}: its ARNs name region(s) {', '.join(sorted(other_regions))}, but the deploy "
            f"goes to {region}: write {region} in the file's ARNs, or deploy with "
            f"REGION={' '.join(sorted(other_regions))}")
    problems = wildcard_problems(stage.policy)
    problems += [f"it does not grant {action} on {arn}"
                 for action, arn in required_grants(stage, region) if not allows(stage.policy, action, arn)]
    xray_granted = any(allows(stage.policy, action, "*") for action in RESOURCE_STAR_ACTIONS)
    if xray_granted != stage.xray:
        problems.append(f"xray is {str(stage.xray).lower()} for the stage but X-Ray's put calls are "
                        f"{'' if xray_granted else 'not '}granted")
    if problems:
        raise ConfigurationError(f"{where}: " + "; ".join(problems) +
                                 f". Edit {where} (the names come from stage {stage.name!r} in "
                                 f"{CHALICE_CONFIG}); `make test` checks it against every AWS call "
                                 f"the app makes")


def required_grants(stage: Stage, region: str, account: str = "*") -> list[tuple[str, str]]:
    """One sample request per resource the stage's function uses: enough to
    catch a policy that names another bucket, table, queue or region."""
    s = stage.settings
    ingest, results = f"arn:aws:s3:::{s.ingest_bucket}", f"arn:aws:s3:::{s.results_bucket}"
    return [
        ("s3:GetObject", f"{ingest}/incoming/orders_1.csv"),
        ("s3:PutObject", f"{results}/reports/1/batch.json"),
        ("s3:PutObject", f"{results}/unknown-names/readme.txt.json"),
        ("s3:PutObject", f"{results}/payloads/1/1/1.json"),
        ("dynamodb:PutItem", stage.table_arn(region, account)),
        ("sqs:SendMessage", stage.sqs_arn(s.output_queue_name, region, account)),
        ("sqs:SendMessage", stage.sqs_arn(s.dead_letter_queue_name, region, account)),
        ("logs:PutLogEvents",
         stage.log_group_arn(stage.event_function, region, account) + ":log-stream:x"),
    ]
