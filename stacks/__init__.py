"""CDK stacks and constructs of seisless: one construct per concern."""

from __future__ import annotations

from stacks.scan_stack import SeislessScanStack

__all__ = ["SeislessScanStack"]
