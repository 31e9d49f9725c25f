"""Handlers of the imaging state machine: Init, SelectShots, RecordFailedShots."""
