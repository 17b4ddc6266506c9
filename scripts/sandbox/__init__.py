"""The local sandbox: the embedded emulator, the event runner, LocalStack, provisioning.

`python -m scripts.sandbox up|down|status|env|run|deliver|api` (see __main__). The
commands a user runs stay in scripts/; this package is what they run against.
"""
