"""create_app(settings): the lifespan builds every part once, in order, and fails fast."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent import __version__
from agent.api.errors import install_error_handlers
from agent.api.limits import BodySizeLimit
from agent.api.main import api_router
from agent.api.openapi import install_openapi
from agent.assist.idle import IdleRound, round_interval
from agent.campaigns.local import LocalDialer
from agent.logs import configure_logging, log_event
from agent.pipeline import Clock, system_clock
from agent.security.cors import install_cors
from agent.security.production import check_production
from agent.security.ratelimit import build_limiter
from agent.services import build_services
from agent.settings import Settings
from agent.telephony.audiosocket import AudioSocketServer

log = logging.getLogger("agent.app")


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Production refuses unsafe settings before anything opens (agent/security).
        await check_production(settings)
        app.state.rate_limiter = build_limiter(settings.redis_url)
        services = await build_services(settings, clock)
        app.state.services = services
        audiosocket = None
        if settings.audiosocket_port:
            audiosocket = AudioSocketServer(
                services, settings.audiosocket_host, settings.audiosocket_port
            )
            await audiosocket.start()
        # The embedded dialer; with AGENT_DIALER=procrastinate `agent worker` dials and
        # reconciles, with `off` this process still reconciles the calls it placed.
        dialer = None
        if settings.dialer != "procrastinate":
            dialer = LocalDialer(
                services.dialing, settings.dialer_tick_s, campaigns=settings.dialer == "local"
            )
            dialer.start()
        app.state.dialer = dialer
        # Chats a person took over and left the debtor waiting in go back to the bot.
        idle_round = None
        if services.pipeline.takeover_idle is not None:
            idle_round = IdleRound(
                services.pipeline, round_interval(services.pipeline.takeover_idle)
            )
            idle_round.start()
        app.state.idle_round = idle_round
        log_event(log, "service_started", database=services.store.engine.dialect.name)
        try:
            yield
        finally:
            if idle_round is not None:
                await idle_round.close()
            if dialer is not None:
                await dialer.close()
            if audiosocket is not None:
                await audiosocket.close()
            await services.voice.close()
            await services.events.close()
            await services.store.close()
            await app.state.rate_limiter.close()
            log_event(log, "service_stopped")

    app = FastAPI(title="Tact", version=__version__, lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_cors(app, settings)  # outermost: 413s and 429s carry CORS headers too
    install_error_handlers(app)
    app.include_router(api_router)
    install_openapi(app)  # the real error shapes and statuses in /openapi.json
    return app
