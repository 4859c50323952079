"""`python -m infra.cli`: the `aiqleads` command."""

from infra.cli import main

main()
