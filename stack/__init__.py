"""Runs the platform: one description of its services (`services`), a native and a Compose runner."""
