"""A stage's AWS resources and its deploy, shared by the sandbox and `make deploy`.

- ``config``: the stage as a deploy sees it (``Stage``, ``load_stage``) and where
  a deploy goes (``Target``).
- ``policy``: the small IAM policy matcher that the deploy checks and the
  least-privilege test share.
- ``validate``: the checks that refuse a deploy before it calls anything (the
  target, the stage's IAM policy).
- ``provision``: creates the stage's buckets, table and queues; idempotent.
- ``plan``: the deploy and destroy plans, their steps, and ``run_plan``.
- ``errors``: ``DeployError``.

scripts/deploy.py (the CLI) and scripts/sandbox/ import from here; nothing here
imports them, so the dependency runs one way.
"""
