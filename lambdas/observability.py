"""The CloudWatch metrics the handlers publish (Powertools Metrics, embedded metric
format), named once: the handlers emit them and the stack's dashboard graphs them.

Plain constants, no imports: `stacks/` reads this module without the Lambda runtime's
packages. Metrics carry no dimension, so the dashboard finds each by name alone.
"""

from __future__ import annotations

NAMESPACE = "Seisless"

#: Traces decoded by the scan workers, and the SEG-Y bytes they read.
TRACES_SCANNED = "TracesScanned"
BYTES_READ = "BytesRead"
#: Scans whose outputs were merged.
SCANS_COMPLETED = "ScansCompleted"
#: Imaging runs initialised (new or resumed), shots selected, shots tombstoned.
RUNS_STARTED = "RunsStarted"
SHOTS_SELECTED = "ShotsSelected"
SHOTS_TOMBSTONED = "ShotsTombstoned"
#: Shot gradients summed into an iteration's root (tombstones included), and the inner
#: nodes of the reduction tree computed on the way.
GRADIENTS_REDUCED = "GradientsReduced"
NODES_REDUCED = "NodesReduced"
