"""The `workup` command line, one module per concern."""
