"""Learning and Distilling the Internal Relationship of Motion Features in Action Recognition:
tables, claims and models."""
