"""The `vrb-agent` command line: judge, bench, report, probes, demo, data.

`app` (the root group, with the one error-to-exit-code mapping) and `main` (the console script)
live in `app`; each command group in its own module, registered on `app` when imported here.
"""

from vrb_agent.cli import bench, data, judge, probes
from vrb_agent.cli.app import app, main

__all__ = ["app", "bench", "data", "judge", "main", "probes"]
