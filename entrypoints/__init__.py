"""The composition root: the CLI, the commands and the wiring of every component (the only package importing them all)."""
