"""What a summary is, how it is stored and what its quality issues are: models, items, rules. No AWS, no I/O."""
