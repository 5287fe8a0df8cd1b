"""The offline preview's optimisations, each of which can be switched off.

``REGIONFLOW_OFFLINE_FAST`` selects them: unset or ``1`` turns every optimisation on, ``0`` turns every
one off (the SDK's own code paths, one program after another), and a comma-separated list of names
turns on only those (``gc,traces``), which is how ``benchmarks/preview_bench.py`` measures what each
one buys. None of them may change what is computed: ``tests/foundation/test_offline_speed.py``
compares a digest of every manifest with and without them.

* ``imports``: a ``pulumi_aws`` service package loads only the modules whose names a program uses,
  not every module of the service (see :mod:`regionflow.offline.lazy_aws`).
* ``gc``: the heap (about 140k long-lived objects, mostly ``pulumi_aws`` modules and types) is frozen
  out of the cyclic collector before the first fork and after the first program, generation 0 is
  collected far less often, and short-lived workers do not collect at all (unless they grow by
  128 MB). Cyclic collection otherwise takes about a third of the run.
* ``traces``: the SDK captures a Python stack trace for every resource it registers
  (``pulumi.runtime.resource._get_stack_trace``) and sends it to the engine for diagnostics. Under
  mocks nothing reads it, so the offline engine skips it. Never under ``--engine pulumi``: only an
  offline program (``runner.run_stack``) turns it on, for as long as the program runs.
* ``outputs``: fewer ``Output`` objects. ``regionflow.iam.policy_document`` lifts only the Output
  leaves of a document and serialises it once (this one also under the real engine, since its result
  is the SDK's; the switch still selects the SDK's function there); offline, ``Output.concat`` and ``Output.json_dumps``
  lift only their Output parts and ``StackReference.require_output`` picks one output instead of
  lifting them all (the SDK's versions make an Output of every dict, list and constant). JSON-safe
  copies for manifests and policies answer the commonest types first.
* ``policies``: the policy rules see each resource's properties computed once, not once per rule.
* ``workers``: the stacks after the first run in forked worker processes, each project in workers
  of its own; a StackReference waits until the stack it names has published its exports. Results
  come back in deployment order, and a stack a worker failed is run again in the parent.
"""

from __future__ import annotations

import os

ENVIRONMENT_VARIABLE = "REGIONFLOW_OFFLINE_FAST"
OPTIMISATIONS: tuple[str, ...] = ("imports", "gc", "traces", "outputs", "policies", "workers")


def enabled(name: str) -> bool:
    """Whether optimisation ``name`` is on (read at each call, so tests can switch it)."""
    if name not in OPTIMISATIONS:
        raise ValueError(f"unknown optimisation {name!r}; known: {', '.join(OPTIMISATIONS)}")
    raw = os.environ.get(ENVIRONMENT_VARIABLE, "1").strip().lower()
    if raw in ("", "1", "true", "yes", "on", "all"):
        return True
    if raw in ("0", "false", "no", "off", "none"):
        return False
    return name in {part.strip() for part in raw.split(",")}
