"""What the bench runs: the stage's settings, the app's S3 handler, and the memory Lambda gives it.

All of it is read where the sandbox reads it: the settings from the stage's
environment (``Settings.for_stage``), the handler from the app's own S3 event
sources, its memory from ``.chalice/config.json`` as Chalice resolves a
function's settings (``scripts.sandbox.function_config``).
"""
from __future__ import annotations

from dataclasses import dataclass

from chalice.app import S3EventConfig

from chalicelib.config import PROJECT_DIR, Settings
from scripts.sandbox.function_config import function_config
from scripts.sandbox.worker import load_app

STAGE = "local"


@dataclass(frozen=True)
class Target:
    stage: str
    settings: Settings
    handler: str  # the function S3 invokes, e.g. on_csv_uploaded
    memory_mb: int  # what Lambda gives it; its CPU share follows


def bench_target(stage: str = STAGE) -> Target:
    handler = s3_handler(stage)
    return Target(stage=stage, settings=Settings.for_stage(stage), handler=handler,
                  memory_mb=function_config(handler, stage).memory_mb)


def s3_handler(stage: str) -> str:
    """The name of the app's S3 handler: the function each drop's uploads invoke."""
    app = load_app(stage, str(PROJECT_DIR))
    names = sorted({source.name for source in app.event_sources if isinstance(source, S3EventConfig)})
    if len(names) != 1:
        raise SystemExit(f"the bench invokes the app's one S3 handler; app.py has {len(names)}: "
                         f"{', '.join(names) or 'none'}")
    return names[0]
