"""Deploys a stage to AWS and tears it down: `make deploy` and `make destroy`.

    python -m scripts.deploy deploy  --stage dev [--dry-run] [--allow-endpoint]
    python -m scripts.deploy destroy --stage dev [--dry-run] [--confirm delete-data]

This is the command line only: it loads the stage, checks where the deploy goes
and (for a deploy) the stage's IAM policy, then runs the plan. `--dry-run`
prints the plan with every resource name and calls nothing. The stage, the
checks and the plans are in scripts/stage/ (config, validate, plan), which the
sandbox uses too. `make deploy STAGE=local` deploys into the running sandbox.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from chalicelib import aws
from chalicelib.errors import ConfigurationError, PipelineError
from scripts import cli
from scripts.sandbox.processes import endpoint_answers
from scripts.sandbox.state import DUMMY_CREDENTIALS, State, load_state
from scripts.stage.config import EMULATOR_STAGES, Target, load_stage
from scripts.stage.plan import DELETE_DATA, Clients, Deployment, Runner, run_command, run_plan
from scripts.stage.validate import check_policy, check_target


def running_sandbox() -> State | None:
    """The running sandbox (`make local-up`), or None."""
    state = load_state()
    if state is None or not endpoint_answers(state.endpoint):
        return None
    return state


def _sandbox_clients(endpoint: str, region: str) -> Clients:
    """Clients of the sandbox's emulator in the region `chalice deploy` deploys to, with the
    dummy credentials an emulator gets."""
    return lambda service: aws.client(service, endpoint=endpoint, region=region or None,
                                      credentials=DUMMY_CREDENTIALS)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         runner: Runner = run_command, clients: Clients | None = None,
         out: Callable[[str], None] = print,
         sandbox: Callable[[], State | None] = running_sandbox) -> int:
    """``clients`` (by default as the environment says, or the running sandbox's) and
    ``runner`` (of `chalice`) stand in for AWS in tests."""
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["deploy", "destroy"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--dry-run", action="store_true", help="print the plan, call nothing")
    parser.add_argument("--allow-endpoint", action="store_true",
                        help="deploy an AWS stage to AWS_ENDPOINT_URL (an emulator) on purpose")
    parser.add_argument("--confirm", default="", help=f"'{DELETE_DATA}': destroy deletes the data too")
    args = parser.parse_args(argv)
    environ = dict(os.environ if environ is None else environ)
    try:
        if args.confirm not in ("", DELETE_DATA):
            raise ConfigurationError(f"CONFIRM={args.confirm!r} is not understood: "
                                     f"CONFIRM={DELETE_DATA} deletes the data resources")
        stage = load_stage(args.stage)
        emulator = ""
        reached = None
        if stage.name in EMULATOR_STAGES and not Target.from_environment(environ).endpoint:
            # `make deploy STAGE=local` deploys into the sandbox that runs, if one does.
            reached = sandbox()
            if reached:
                emulator = reached.mode
                environ.update(reached.client_env)  # for `chalice deploy`, a child
        target = Target.from_environment(environ)
        if clients is None:
            clients = aws.client if reached is None else _sandbox_clients(reached.endpoint, target.region)
        check_target(stage, target, args.allow_endpoint)
        if args.action == "deploy":
            check_policy(stage, target.region)
        deployment = Deployment(stage, target, runner=runner, clients=clients, environ=environ, out=out)
        verb = "would deploy" if args.dry_run else "deploying"
        if args.action == "deploy":
            out(f"{verb} stage {stage.name} to {target.describe()}")
            steps = deployment.deploy_plan()
        else:
            out(f"{'would destroy' if args.dry_run else 'destroying'} stage {stage.name} in "
                f"{target.describe()}")
            steps = deployment.destroy_plan(delete_data=args.confirm == DELETE_DATA)
        run_plan(steps, args.dry_run, out)
        if args.action == "deploy" and not args.dry_run and emulator in ("embedded", "external"):
            out(f"The bucket {stage.settings.ingest_bucket} now notifies the deployed function as "
                f"well as the local event runner. moto cannot run a Lambda function without Docker "
                f"(its log says 'error running docker' for each upload), so the runner goes on "
                f"handling the events; `make destroy STAGE={stage.name}` removes the deployment.")
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli.run(main)
