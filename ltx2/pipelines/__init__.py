"""The ``pipeline`` config group: short stories that call the models and the sampling pieces."""
