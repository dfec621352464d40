"""Tiny official-format files with random weights, written offline (the default model, tests)."""
