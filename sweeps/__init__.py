"""The papers' experiments as command-line modules: ``python -m sweeps.<name> --help``."""
