"""The cxj command line: wiring only; every subcommand lives in its own package."""
