"""Text encoding: Gemma 3 hidden states -> feature extractor -> connectors -> video/audio contexts."""
