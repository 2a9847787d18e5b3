"""Shared test helpers: real servers, signed requests, processes."""
