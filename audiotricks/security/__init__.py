"""Security primitives as plain functions: no Flask, so the CLI and tests can use them alone."""
