"""Dependencies as `Annotated` aliases: routers ask for what they need by type."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from agent.services import Services


def get_services(connection: HTTPConnection) -> Services:
    return cast(Services, connection.app.state.services)


def get_services_http(request: Request) -> Services:
    return get_services(request)


ServicesDep = Annotated[Services, Depends(get_services_http)]
