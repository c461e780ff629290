"""`python -m vrb_agent.cli`, the same as the `vrb-agent` console script."""

from vrb_agent.cli.app import main

main()
