"""Processing: the split and the feature steps (the schema itself is in project.toml)."""
