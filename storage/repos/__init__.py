"""Repositories: small classes over one session that speak domain dataclasses."""
