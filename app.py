#!/usr/bin/env python3
"""CDK entry point: `cdk deploy` creates the seisless scan stack in the current account."""

from __future__ import annotations

import aws_cdk as cdk

from stacks import SeislessScanStack

app = cdk.App()
SeislessScanStack(app, "SeislessScan")
app.synth()
