"""One module per CLI command (see cosmos_policy.cli.COMMANDS)."""
