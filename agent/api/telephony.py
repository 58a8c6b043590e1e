"""The telephone channel over Twilio: signed webhooks answered with TwiML, and outbound
calls (`POST /v1/calls`) placed through the REST API after the contact rules allow.

The webhooks fail closed: any error once a signature has held (store down, pipeline
error, unknown call) is answered with a short apology and a hang-up that say nothing
about any debt, and an ERROR log line; the gateway never plays its own error.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from agent.api.deps import ServicesDep, get_services
from agent.channels.chat import clean_text
from agent.errors import InvalidInput, Unavailable
from agent.logs import log_event
from agent.pipeline import TurnOutcome
from agent.security.throttle import check_webhook
from agent.services import Services
from agent.telephony import twiml
from agent.telephony.dialing import WEBHOOK_PREFIX, place, webhook_url
from agent.telephony.inbound_sms import record_text
from agent.telephony.lookup import e164
from agent.telephony.status import CallInfo, machine_answered
from agent.telephony.twilio_rest import configured
from agent.telephony.twilio_signature import public_base, verified_params

router = APIRouter(tags=["telephony"])
log = logging.getLogger("agent.api.telephony")

PREFIX = WEBHOOK_PREFIX
MAX_SILENT_PROMPTS = 2  # reprompts after silence before the call is ended


async def _twilio_params(request: Request) -> dict[str, str]:
    await check_webhook(request)  # before the signature: a flood costs no HMAC work
    return await verified_params(request, get_services(request).settings)


TwilioParams = Annotated[dict[str, str], Depends(_twilio_params)]


def _xml(document: str) -> Response:
    return Response(document, media_type="application/xml")


def _fail_closed(exc: Exception, locale: str, **fields: Any) -> Response:
    log_event(
        log,
        "call_failed_closed",
        logging.ERROR,
        error=type(exc).__name__,
        code=getattr(exc, "code", None),
        **fields,
    )
    return _xml(twiml.goodbye([twiml.fixed_line("apology", locale)], locale))


def _url(request: Request, services: Services, path: str, **query: str | int) -> str:
    return webhook_url(public_base(request, services.settings), path, **query)


def _ws_url(base: str) -> str:
    """The WebSocket twin of the public base: wss:// for https://, ws:// for http://."""
    scheme, sep, rest = base.partition("://")
    return ("wss" if scheme == "https" else "ws") + sep + rest


def _answer(request: Request, services: Services, call: CallInfo, outcome: TurnOutcome) -> str:
    """The pipeline's reply as TwiML: listen for more, hand off, or end the call."""
    texts = [m.text for m in outcome.messages]
    settings = services.settings
    lines = {"business_name": settings.business_name, "callback_number": settings.callback_number}
    if outcome.state.handoff:
        if settings.human_queue_number:
            return twiml.dial(texts, call.locale, settings.human_queue_number)
        return twiml.goodbye(
            [*texts, twiml.fixed_line("no_queue", call.locale, **lines)], call.locale
        )
    if outcome.state.ended:
        return twiml.goodbye(texts, call.locale)
    return twiml.gather(texts, call.locale, _url(request, services, "/gather", call_id=call.id))


@router.post(f"{PREFIX}/voice")
async def voice(
    request: Request, services: ServicesDep, params: TwilioParams, call_id: str | None = None
) -> Response:
    """A call is up: ours (`call_id`, outbound) or a caller's (inbound)."""
    locale = "en-US"
    try:
        registry = services.calls
        sid = params.get("CallSid", "")
        answered_by = params.get("AnsweredBy") or None
        if call_id:
            call = await registry.answered(call_id, sid, answered_by)
        else:
            call = await registry.inbound(sid, params.get("From", ""), params.get("To", ""))
        locale = call.locale
        settings = services.settings
        lines = {
            "business_name": settings.business_name,
            "callback_number": settings.callback_number,
        }
        if machine_answered(answered_by):
            # A machine hears only the limited-content voicemail, never the conversation.
            message = None if answered_by == "fax" else await registry.voicemail(call.id)
            return _xml(twiml.goodbye([message] if message else [], locale))
        if call.account_ref is None:
            return _xml(
                twiml.goodbye([twiml.fixed_line("unknown_caller", locale, **lines)], locale)
            )
        if call.mode == "stream" and services.voice.can_recognize(locale):
            url = _ws_url(public_base(request, settings)) + f"{PREFIX}/stream"
            return _xml(twiml.stream(url, {"call_id": call.id}))
        if call.mode == "stream":
            # No recognizer for this language here (zh-CN needs a Vosk model): the
            # gateway's own speech recognition carries the call instead of silence.
            log_event(log, "stream_fallback_to_gather", logging.WARNING, locale=locale)
        outcome = await registry.start_conversation(call.id)
        return _xml(_answer(request, services, call, outcome))
    except Exception as exc:  # fail closed: see the module docstring
        return _fail_closed(exc, locale, webhook="voice", call_id=call_id)


@router.post(f"{PREFIX}/gather")
async def gather(
    request: Request,
    services: ServicesDep,
    params: TwilioParams,
    call_id: str | None = None,
    silent: int = 0,
) -> Response:
    """What the debtor said (speech) or keyed (DTMF) at a <Gather>."""
    locale = "en-US"
    try:
        registry = services.calls
        call = await (registry.get(call_id) if call_id else _by_sid(services, params))
        locale = call.locale
        if call.session_id is None:
            raise Unavailable("no_conversation", "this call has no conversation to continue")
        text = (params.get("SpeechResult") or params.get("Digits") or "").strip()
        if not text:
            return _xml(await _reprompt(request, services, call, silent + 1))
        text = clean_text(text, services.settings.max_message_chars)
        outcome = await services.pipeline.handle(call.session_id, text)
        return _xml(_answer(request, services, call, outcome))
    except Exception as exc:  # fail closed: see the module docstring
        return _fail_closed(exc, locale, webhook="gather", call_id=call_id)


async def _by_sid(services: Services, params: dict[str, str]) -> CallInfo:
    found = await services.calls.by_sid(params.get("CallSid", ""))
    if found is None:
        raise Unavailable("call_not_found", "no call with this CallSid")
    return found


async def _reprompt(request: Request, services: Services, call: CallInfo, silent: int) -> str:
    """Silence: say the last thing again, a couple of times, then end politely."""
    settings = services.settings
    if silent > MAX_SILENT_PROMPTS:
        line = twiml.fixed_line(
            "silence",
            call.locale,
            business_name=settings.business_name,
            callback_number=settings.callback_number,
        )
        return twiml.goodbye([line], call.locale)
    texts = [m.text for m in await services.calls.replay(call.id)]
    action = _url(request, services, "/gather", call_id=call.id, silent=silent)
    return twiml.gather(texts, call.locale, action)


@router.post(f"{PREFIX}/status", status_code=204)
async def status(
    services: ServicesDep, params: TwilioParams, call_id: str | None = None
) -> Response:
    duration = params.get("CallDuration", "")
    await services.calls.update_status(
        params.get("CallSid", ""),
        params.get("CallStatus", ""),
        params.get("AnsweredBy") or None,
        int(duration) if duration.isdigit() else None,
        call_id=call_id,
    )
    return Response(status_code=204)


@router.post(f"{PREFIX}/sms")
async def sms(services: ServicesDep, params: TwilioParams) -> Response:
    """A text the debtor sent to our number: opt-out keywords and cease-like replies are
    recorded on their accounts (`telephony/inbound_sms.py`); the answer is empty TwiML."""
    number = e164(params.get("From", ""))
    body = params.get("Body", "")
    if len(body) > services.settings.max_message_chars:
        raise InvalidInput("text_too_long", "the text is too long")
    if number is None:
        log_event(log, "sms_unknown_sender", logging.WARNING)
        return _xml(twiml.no_reply())
    reading, recorded = await record_text(
        services.store,
        services.analyzer,
        services.pipeline.clock(),
        number,
        body,
        params.get("OptOutType", ""),
        params.get("MessageSid", ""),
    )
    log_event(
        log,
        "sms_received",
        keyword=reading.keyword,
        raised=list(reading.flags),
        accounts=len(recorded.accounts),
        added=recorded.added,
        lifted=recorded.lifted,
    )
    return _xml(twiml.no_reply())


class CallCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_ref: StrictStr = Field(min_length=1, max_length=64)
    mode: Literal["gather", "stream", "audiosocket"] | None = None


@router.post("/v1/calls", status_code=202)
async def create_call(body: CallCreate, request: Request, services: ServicesDep) -> dict[str, Any]:
    """Place an outbound call, if the contact rules allow one now (409 otherwise)."""
    settings = services.settings
    if body.mode == "audiosocket":
        # The PBX originates the call; its dialplan hands the call_id to AudioSocket()
        # as the call's UUID. Contact rules are applied here all the same.
        if not settings.audiosocket_port:
            raise Unavailable("audiosocket_disabled", "AGENT_AUDIOSOCKET_PORT is not set")
        call = await services.calls.create_outbound(body.account_ref, body.mode)
        log_event(log, "call_created", call_id=call.id, mode=call.mode)
        return _call_body(call)
    if not configured(settings):
        raise Unavailable("telephony_not_configured", "the Twilio account is not configured")
    call = await services.calls.create_outbound(body.account_ref, body.mode)
    call = await place(services.calls, settings, call, public_base(request, settings))
    log_event(log, "call_placed", call_id=call.id, account_ref=call.account_ref, mode=call.mode)
    return _call_body(call)


@router.get("/v1/calls/{call_id}")
async def get_call(call_id: str, services: ServicesDep) -> dict[str, Any]:
    return _call_body(await services.calls.get(call_id))


def _call_body(call: CallInfo) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "status": call.status,
        "account_ref": call.account_ref,
        "mode": call.mode,
        "direction": call.direction,
        "call_sid": call.call_sid,
        "answered_by": call.answered_by,
        "conversation_id": call.conversation_id,
        "locale": call.locale,
    }
