"""Auth failures, reported like every other error: `{"error": {"code", "message"}}`."""

from __future__ import annotations

from agent.errors import ServiceError


class NotAuthenticated(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class TooManyAttempts(ServiceError):
    status = 429
