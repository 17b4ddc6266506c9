"""``make bench``: the pipeline end to end on the embedded emulator, against the original design.

For each drop size it generates the files (seeded, cached under .sandbox/bench),
uploads them to a private emulator, and runs the three invocations in a fresh
worker process through Chalice's own Lambda wrapper, as the local event runner
does. The worker counts AWS API calls with botocore's event hooks (per
operation) and reports its wall time and peak RSS; the parent then checks the
published messages against the generator's manifest (customer count and exact
total). It counts DynamoDB write units from the requests themselves, by
DynamoDB's rule (``chalicelib.item_sizes``: ceil(item bytes / 1 KB) per item
put, updated or deleted), as moto answers ``ReturnConsumedCapacity`` with a
constant. On the XS drop it also runs the original design's algorithm
(scripts/baseline.py) on the same emulator. In process, it measures parse +
validate + aggregate against a bare ``csv.reader`` loop over the same files,
and, for every drop, the handler's own work with no emulator (time and peak
RSS). Every drop, L included, also runs end to end on the emulator.

The last line printed is one JSON object with the headline figures.

    python -m scripts.bench                # XS (with the baseline), S, M
    python -m scripts.bench --sizes L      # XS, and L (100,000 / 1,000,000 / 3,000,000)

The modules, one job each:

- ``__main__``: the command line, and the order of the runs;
- ``drops``: the drop sizes, their generated files and what they hold;
- ``target``: the stage, its S3 handler and the memory Lambda gives it;
- ``parse_speed``: parse + validate + aggregate against ``csv.reader``;
- ``end_to_end``: the drops on the private emulator (``private_emulator``,
  with ``clients`` for it), their messages read by ``consumer``;
- ``worker``: one end-to-end run in a process of its own, counted by ``counting``;
- ``in_process``: the handler's own work with no emulator;
- ``launch``: starting a worker process and reading back its figures;
- ``projection``: one invocation projected for AWS;
- ``report``: the printed figures and the closing JSON line.

Nothing is imported here: a worker process loads this package too, and its
peak RSS is one of the figures.
"""
