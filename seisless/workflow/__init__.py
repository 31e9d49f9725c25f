"""Imaging workflow steps (moving to seisless.inversion)."""
