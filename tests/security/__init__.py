"""Security tests: one per hole closed, each written to fail before its fix."""
