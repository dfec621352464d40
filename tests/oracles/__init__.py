"""The reference (ltx-core / ltx-pipelines, torch CPU) driven for parity tests, and the comparison helpers."""
