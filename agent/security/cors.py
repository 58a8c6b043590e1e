"""CORS, only when origins are configured: a lender's page on another site may then embed
the chat widget and call the chat API. No credentials: the widget needs no cookies (its
session id is in the URL), and the assist panel, which does, is served same-origin."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from agent.settings import Settings


def install_cors(app: FastAPI, settings: Settings) -> None:
    if not settings.cors_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        allow_credentials=False,
        # A browser reading a 429 needs to see when to retry.
        expose_headers=["Retry-After"],
        max_age=600,
    )
