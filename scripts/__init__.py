"""Developer tooling: provisioning, the local sandbox, the event runner, the demo."""
