"""The sandbox's own error: it cannot be started, reached or stopped."""
from __future__ import annotations

from chalicelib.errors import PipelineError


class SandboxError(PipelineError):
    """The sandbox cannot be started, reached or stopped; the message says why."""

