"""CDK stacks and constructs of seisless: one construct per concern."""

from __future__ import annotations

from stacks.seisless_stack import SeislessStack

__all__ = ["SeislessStack"]
