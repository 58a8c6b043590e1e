"""The OpenAPI document tells the truth about errors and content types.

Every error is `{"error": {"code", "message", ...}}` (agent/api/errors.py), but FastAPI
documents only the success status and a 422 in its own `{"detail": [...]}` shape, which
this service never sends. `install_openapi` post-processes the generated document once:
each operation gets the error statuses it can really answer, in the real shape. Most
follow from how the route is built (a JSON body can be malformed, a path id unknown, a
signed-in route can refuse the caller, the store can be down anywhere); what particular
handlers raise on top is listed in `EXTRA_ERRORS`. Kept in one table here, next to the
rules, rather than spread over the routers, so that fuzzing (tests/fuzz/test_openapi.py)
checks one place against every handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from agent.auth import deps as auth_deps

ERROR_REF = "#/components/schemas/Error"
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            # Some errors add fields (e.g. `fields` for 422, `retry_after_s` for 429).
            "additionalProperties": True,
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "for people"},
            },
        }
    },
}

DESCRIPTIONS = {
    400: "The body is not valid JSON (`malformed_json`)",
    401: "Not signed in, or the API key is not valid",
    403: "Not allowed: role, CSRF token, or the request is not signed by the gateway",
    404: "No such resource (or one of another tenant)",
    409: "The resource is not in a state that allows this",
    413: "The body is over AGENT_MAX_BODY_BYTES (`body_too_large`)",
    422: "The request does not match the schema, or a value is not acceptable",
    429: "Too many requests; `Retry-After` says when to try again",
    502: "The telephony gateway refused or failed",
    503: "The store (or a configured dependency) is unavailable; nothing was done",
}

# What handlers raise beyond the rules in `_statuses` (method, path template -> statuses).
EXTRA_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/v1/auth/login"): (401, 429),
    ("POST", "/v1/auth/logout"): (403,),  # a signed-in cookie without its CSRF token
    ("POST", "/v1/chat/sessions"): (404, 429),  # unknown account; new sessions per address
    ("POST", "/v1/chat/sessions/{session_id}/messages"): (409, 429),  # ended; turn race
    ("POST", "/v1/accounts/{account_ref}/flags/{flag}/lift"): (409,),  # the flag is not set
    ("POST", "/v1/compliance/contact-check"): (404,),
    ("POST", "/v1/compliance/guard-check"): (404,),
    ("POST", "/v1/telephony/twilio/voice"): (403, 429),
    ("POST", "/v1/telephony/twilio/gather"): (403, 429),
    ("POST", "/v1/telephony/twilio/status"): (403, 404, 409, 429),
    ("POST", "/v1/telephony/twilio/sms"): (403, 422, 429),  # unsigned; oversized text
    ("POST", "/v1/calls"): (404, 409, 502),  # unknown account; contact refused; gateway
    ("POST", "/v1/payments"): (403, 404, 429),
    ("POST", "/v1/assist/conversations/{conversation_id}/messages"): (409,),
    ("POST", "/v1/assist/conversations/{conversation_id}/takeover"): (409,),
    ("POST", "/v1/assist/conversations/{conversation_id}/handback"): (409,),
    ("POST", "/v1/assist/conversations/{conversation_id}/wrapup"): (409,),
    ("POST", "/v1/assist/conversations/{conversation_id}/wrong-number"): (409,),  # no number
    # A status that does not allow the action; start/resume need the gateway (503).
    ("POST", "/v1/campaigns/{campaign_id}/start"): (409,),
    ("POST", "/v1/campaigns/{campaign_id}/pause"): (409,),
    ("POST", "/v1/campaigns/{campaign_id}/resume"): (409,),
    ("POST", "/v1/campaigns/{campaign_id}/stop"): (409,),
    ("GET", "/v1/analytics"): (404,),  # `campaign=` naming no campaign of the tenant
    ("GET", "/v1/analytics.csv"): (404,),
}

# Successes that are not the route's JSON default.
XML_TEXT = {"application/xml": {"schema": {"type": "string"}}}
EXTRA_SUCCESS: dict[tuple[str, str], dict[int, dict[str, Any]]] = {
    # TwiML for the gateway.
    ("POST", "/v1/telephony/twilio/voice"): {200: {"description": "TwiML", "content": XML_TEXT}},
    ("POST", "/v1/telephony/twilio/gather"): {200: {"description": "TwiML", "content": XML_TEXT}},
    ("POST", "/v1/telephony/twilio/sms"): {200: {"description": "TwiML", "content": XML_TEXT}},
    ("GET", "/v1/analytics.csv"): {
        200: {
            "description": "The figures as CSV, one row per day",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    ("GET", "/v1/assist/events"): {
        200: {
            "description": "Server-Sent Events of the caller's tenant (never ends)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
    # A retried delivery gets the first answer again.
    ("POST", "/v1/payments"): {
        200: {
            "description": "Already received: the first answer, unchanged",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
}


def _dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _dependency_calls(dependency)


def _statuses(route: APIRoute, method: str) -> set[int]:
    """The error statuses a route can answer, from how it is built."""
    statuses = {503}  # any route that reads the store fails closed when it is down
    statuses.add(413)  # BodySizeLimit answers before routing, whatever the method
    dependant = route.dependant
    if route.body_field is not None:
        statuses |= {400, 422}
    if dependant.query_params or dependant.path_params or dependant.header_params:
        statuses.add(422)
    if dependant.path_params:
        statuses.add(404)
    # The guards of agent/auth/deps.py (reader, actor, ...) refuse with 401 or 403.
    if any(call.__module__ == auth_deps.__name__ for call in _dependency_calls(dependant)):
        statuses |= {401, 403}
    statuses.update(EXTRA_ERRORS.get((method, route.path_format), ()))
    return statuses


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as wrappers that
    hold the original router; duck-typed so either representation works)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(inner.routes)
        elif isinstance(nested := getattr(route, "routes", None), list):
            yield from _api_routes(nested)


def document_errors(document: dict[str, Any], routes: Iterable[Any]) -> None:
    """Add the real error responses (and content types) to each operation, in place."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for route in _api_routes(routes):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(route, method)):
                responses[str(status)] = {
                    "description": DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                }
            for status, response in EXTRA_SUCCESS.get((method, route.path_format), {}).items():
                responses[str(status)] = response
    # FastAPI's own validation-error shapes are never sent: drop them unless still used.
    text = repr(document.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}'" not in text:
            components.pop(name, None)


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) return the corrected document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document_errors(document, app.routes)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
