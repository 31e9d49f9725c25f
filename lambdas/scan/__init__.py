"""Handlers of the SEG-Y scan state machine: Plan, Scan (Distributed Map worker), Merge."""
