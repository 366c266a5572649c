"""Subcommands of ``streamgmm`` that run the Prefect flows of a checkout and serve them.

``fit``, ``select-k`` and ``score`` run the flows in ``flows/`` (the same flow
functions as ``python -m flows.<name>``); ``serve`` serves the deployments of
``prefect.yaml`` on their schedules. Prefect and the flows are imported only
when one of these commands runs, so the rest of the command line stays light.
"""

from .run_flows import FLOW_COMMANDS, add_flow_commands
from .serve import add_serve_command

__all__ = ["FLOW_COMMANDS", "add_flow_commands", "add_serve_command"]
