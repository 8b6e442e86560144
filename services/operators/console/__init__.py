"""The support console: server-rendered pages on the operators service's internal side."""
