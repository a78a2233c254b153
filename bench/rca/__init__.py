"""Root-cause analysis scenario library and evaluation harness (issue 11)."""
