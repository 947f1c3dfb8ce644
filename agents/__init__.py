"""Faust agents, one module per agent, named for what it does to which stream."""
