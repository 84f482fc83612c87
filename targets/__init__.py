"""Output formats and target profiles: one module per format (its converters and its
runner), each ending with `FORMAT = FormatModule(...)`, the written interface in format.py;
the profile table (profiles.py) and the tables tying them together (registry.py)."""
