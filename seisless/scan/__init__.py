"""Scanning SEG-Y files into per-trace attributes: plan -> ranges -> merge.

The same three stages run in-process (`run_direct`) and as the serverless workflow
(Plan Lambda, Distributed Map of workers, Merge Lambda).
"""

from seisless.scan.attributes import ATTRIBUTE_SCHEMA
from seisless.scan.direct import run_direct
from seisless.scan.gathers import GATHERS_SCHEMA, gathers_index
from seisless.scan.merge import IncompleteScanError, ScanResult, merge_parts
from seisless.scan.plan import ScanOptions, ScanPlan, TraceRange, plan_ranges, plan_scan
from seisless.scan.worker import scan_range

__all__ = [
    "ATTRIBUTE_SCHEMA",
    "GATHERS_SCHEMA",
    "IncompleteScanError",
    "ScanOptions",
    "ScanPlan",
    "ScanResult",
    "TraceRange",
    "gathers_index",
    "merge_parts",
    "plan_ranges",
    "plan_scan",
    "run_direct",
    "scan_range",
]
