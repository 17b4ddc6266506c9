"""Chaos mode: the sandbox delivers and answers as AWS does at its worst, on purpose.

``settings`` reads ``CHAOS`` / ``CHAOS_SEED``; ``delivery`` (in the runner)
delivers S3 events more than once and out of order; ``wire`` (in each
execution environment) makes the function's AWS calls fail as AWS calls do,
and kills environments between two of them. Every fault is seeded and logged.
"""
