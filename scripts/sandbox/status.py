"""`make local-status`: what runs where, the stage's resources, and the runner's environments."""
from __future__ import annotations

import json

from chalicelib.config import Settings
from scripts.sandbox.chaos.settings import FAULT_MARK, Chaos
from scripts.sandbox.inventory import describe_resource, stage_resources
from scripts.sandbox.lifecycle import RUNNER_MODULE, is_alive
from scripts.sandbox.processes import pid_alive
from scripts.sandbox.state import TO_FUNCTION, TO_RUNNER, load_state, sandbox_dir
from scripts.sandbox.wording import plural


def aligned(rows: list[tuple[str, str]]) -> list[str]:
    """``label:  value`` lines, the values in one column."""
    width = max(len(label) for label, _ in rows) + 3  # the colon, then two spaces at least
    return [f"{label + ':':<{width}}{value}".rstrip() for label, value in rows]


def environment_rows(path) -> list[tuple[str, str]]:
    """The runner's execution environments, function by function, as the runner last wrote them."""
    try:
        functions = json.loads(path.read_text()).get("functions", [])
    except (FileNotFoundError, json.JSONDecodeError):
        functions = []
    if not functions:
        return [("environments", "none yet (one starts with the first event)")]
    rows = []
    for pool in functions:
        environments = pool["environments"]
        busy = sum(1 for e in environments if e["state"] == "busy")
        rows.append(("environments", f"{len(environments)} of {pool['concurrency']} for {pool['function']} "
                                     f"({busy} busy, {len(environments) - busy} warm); timeout "
                                     f"{pool['timeout_seconds']:g} s, memory {pool['memory_mb']} MB"))
        rows += [(f"  {e['id']}", f"{e['state']}, pid {e['pid']}, {plural(e['invocations'], 'invocation')}, "
                                  f"started {e['started']}, init {e['init_ms']:.0f} ms")
                 for e in environments]
    return rows


def chaos_row(state) -> str:
    chaos = Chaos.parse(state.chaos, state.chaos_seed)
    if not chaos.on:
        return "off (CHAOS=all make local-up turns it on)"
    try:
        with open(sandbox_dir() / "runner.log", errors="replace") as log:
            injected = sum(FAULT_MARK in line for line in log)
    except FileNotFoundError:
        injected = 0
    return (f"ON: {chaos.describe()}; {plural(injected, 'fault')} injected on purpose so far "
            f"(CHAOS lines in make logs)")


def status() -> int:
    state = load_state()
    if state is None:
        print("Sandbox is not running. Start it with: make local-up")
        return 1
    emulator = is_alive(state)
    runner = pid_alive(state.runner_pid, RUNNER_MODULE)
    managed = {"embedded": f"pid {state.emulator_pid}; log {sandbox_dir() / 'emulator.log'}",
               "localstack": "docker compose; logs: docker compose -p order-pipeline-sandbox logs",
               "external": "started elsewhere; not stopped by make local-down"}[state.mode]
    rows = [("mode", f"{state.mode} (stage {state.stage}), started {state.started_at}"),
            ("emulator", f"{'running' if emulator else 'NOT RUNNING'} at {state.endpoint} ({managed})")]
    if state.delivery == TO_RUNNER:
        rows.append(("S3 events", f"to the local runner, {'running' if runner else 'NOT RUNNING'} "
                                  f"(pid {state.runner_pid}; log {sandbox_dir() / 'runner.log'})"))
        rows.append(("chaos", chaos_row(state)))
        if runner:
            rows += environment_rows(sandbox_dir() / "environments.json")
    else:
        rows.append(("S3 events", "to the function deployed in LocalStack "
                                  "(make local-deliver TO=runner for the local runner)"))
    missing = []
    resources = stage_resources(Settings.for_stage(state.stage))
    if emulator:
        clients = (state.client("s3"), state.client("dynamodb"), state.client("sqs"))
        for resource in resources:
            shown = describe_resource(resource, *clients)
            if shown is None:
                missing.append(resource)
            rows.append((resource.label, shown or f"MISSING  {resource.name}"))
    else:
        rows += [(r.label, f"{r.name} (not checked: the emulator is not running)") for r in resources]
    for line in aligned(rows):
        print(line)
    for resource in missing:
        print(f"missing: {resource.kind} {resource.name} — run `make local-up` to put it back")
    if not emulator:
        print("the emulator does not answer — run `make local-up` to start the sandbox anew"
              + (" (the embedded emulator starts empty; `make local-up` keeps the old logs)"
                 if state.mode == "embedded" else ""))
    elif state.delivery == TO_RUNNER and not runner:
        print("the event runner is not running — run `make local-up` to start it again (it "
              "takes back the events the stopped one held), or `make local-run` in the foreground")
    return 0 if emulator and not missing and (runner or state.delivery == TO_FUNCTION) else 1

