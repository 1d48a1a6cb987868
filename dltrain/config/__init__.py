"""The run config: schema (defaults), composition, validation, freezing, resume rules."""
