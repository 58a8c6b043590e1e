"""Every rejected request gets `{"error": {"code", "message"}}`, a 4xx, and a log line."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.errors import ServiceError
from agent.logs import log_event

log = logging.getLogger("agent.api")


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    level = logging.ERROR if status >= 500 else logging.WARNING
    log_event(log, "request_rejected", level, status=status, code=code, path=request.url.path)
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        response = error_response(request, exc.status, exc.code, exc.message, **exc.details)
        retry_after = exc.details.get("retry_after_s")
        if retry_after is not None:  # 429s (rate limits, sign-in throttling); RFC 9110
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(request, 400, "malformed_json", "the body is not valid JSON")
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "problem": e.get("msg", "")}
            for e in errors
        ]
        return error_response(
            request, 422, "invalid_request", "the request does not match the schema", fields=details
        )

    @app.exception_handler(SQLAlchemyError)
    async def store_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The database is down or failing (a read before the turn, a lookup): the same
        # fail-closed answer as a turn that could not be logged, never a bare 500.
        log_event(log, "store_error", logging.ERROR, error=type(exc).__name__)
        return error_response(
            request, 503, "store_unavailable", "the store is unavailable; nothing was done"
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400: FastAPI could not read the body at all (not UTF-8), so it is not JSON either.
        codes = {400: "malformed_json", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        # Keep the exception's headers: a 405 must say which methods are allowed (`Allow`).
        return error_response(request, exc.status_code, code, str(exc.detail), exc.headers)
