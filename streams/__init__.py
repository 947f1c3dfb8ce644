"""Pollers: each turns an outside source into records on a topic."""
