"""The deploy's own error: one of its steps failed."""
from __future__ import annotations

from chalicelib.errors import PipelineError


class DeployError(PipelineError):
    """A deploy or destroy step failed; nothing after it ran."""
