"""Output formats and target profiles: one module per format (its converters and its
runner), the profile table (profiles.py) and the tables tying them together (registry.py)."""
