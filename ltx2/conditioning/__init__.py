"""The ``conditioning`` config group: inputs that pin parts of the video (images at frames)."""
