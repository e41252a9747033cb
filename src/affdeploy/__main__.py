"""``python -m affdeploy`` runs the CLI."""

from affdeploy.cli import main

main()
