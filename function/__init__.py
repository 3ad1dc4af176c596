"""Serving code that ships in the container: engine, text front-end and HTTP layer (never torch)."""
