#!/usr/bin/env python3
"""CDK entry point: `cdk deploy Seisless` creates the seisless stack in the current account.

`seisless.local.template` runs this file as `cdk synth` does, so what it builds here is
what the local cloud and the tests see.
"""

from __future__ import annotations

import aws_cdk as cdk

from seisless.names import STACK_NAME
from stacks import SeislessStack
from stacks.nag import check_aws_solutions

app = cdk.App()
SeislessStack(app, STACK_NAME)
check_aws_solutions(app)
app.synth()
