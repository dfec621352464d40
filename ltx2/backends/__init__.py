"""Faster implementations of the named ops in ltx2/ops.py, one package per backend."""
