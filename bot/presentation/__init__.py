"""Presentation: the one message type, and pure rendering of domain objects into it."""
