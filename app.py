#!/usr/bin/env python3
"""CDK entry point: `cdk deploy Seisless` creates the seisless stack in the current account."""

from __future__ import annotations

import aws_cdk as cdk

from seisless.names import STACK_NAME
from stacks import SeislessStack

app = cdk.App()
SeislessStack(app, STACK_NAME)
app.synth()
