"""Hardening that spans the service: production start-up checks, CORS, rate limits."""
