"""The `microvisor` command line."""
