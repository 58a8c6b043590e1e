"""TwiML answers, built with the official `VoiceResponse` (and `MessagingResponse`).

Everything the agent says comes from the pipeline (templates that passed the guard);
the few fixed lines here are for when there is no conversation to speak from, and
say nothing about any debt: the apology when something failed, the unknown caller,
silence, and a hand-off with no queue to dial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Connect, Gather, VoiceResponse

# <Say>/<Gather> language per conversation locale (all three are Twilio languages).
LANGUAGES = {"en-US": "en-US", "en-GB": "en-GB", "zh-CN": "zh-CN"}

FIXED_LINES: dict[str, dict[str, str]] = {
    "apology": {
        "en": "I'm sorry, we can't continue this call right now. Goodbye.",
        "zh": "抱歉，我们现在无法继续通话。再见。",
    },
    "unknown_caller": {
        "en": "Thank you for calling {business_name}. We could not match this number to our "
        "records. Please call us back on {callback_number} from the number we contacted you "
        "on. Goodbye.",
        "zh": "感谢您致电{business_name}。我们无法识别这个号码。请用我们联系您的号码回拨"
        "{callback_number}。再见。",
    },
    "silence": {
        "en": "We didn't hear anything, so we'll end the call now. You can reach "
        "{business_name} on {callback_number}. Goodbye.",
        "zh": "我们没有听到您的声音，现在将结束通话。"
        "您可以拨打{callback_number}联系{business_name}。再见。",
    },
    "no_queue": {
        "en": "Our team can't take the call on this line right now. Please call "
        "{business_name} on {callback_number}. Goodbye.",
        "zh": "我们的工作人员暂时无法接听。请拨打{callback_number}联系{business_name}。再见。",
    },
}


def language(locale: str) -> str:
    return LANGUAGES.get(locale, "en-US")


def fixed_line(name: str, locale: str, **values: str) -> str:
    return FIXED_LINES[name]["zh" if locale.startswith("zh") else "en"].format(**values)


def _say_all(target: VoiceResponse | Gather, texts: Iterable[str], locale: str) -> None:
    for text in texts:
        target.say(text, language=language(locale))


def gather(texts: Iterable[str], locale: str, action: str) -> str:
    """Say the texts inside a <Gather>, so the debtor can talk over (barge in) them.

    `actionOnEmptyResult` posts silence back too, so the service decides when to
    reprompt and when to give up, instead of the gateway falling off the document."""
    response = VoiceResponse()
    prompt = Gather(
        input="speech dtmf",
        action=action,
        method="POST",
        speech_timeout="auto",
        language=language(locale),
        action_on_empty_result=True,
    )
    _say_all(prompt, texts, locale)
    response.append(prompt)
    return str(response)


def goodbye(texts: Iterable[str], locale: str) -> str:
    response = VoiceResponse()
    _say_all(response, texts, locale)
    response.hangup()
    return str(response)


def dial(texts: Iterable[str], locale: str, number: str) -> str:
    """Say the hand-off line, then ring the human queue; hang up when they are done."""
    response = VoiceResponse()
    _say_all(response, texts, locale)
    response.dial(number)
    response.hangup()
    return str(response)


def stream(url: str, parameters: Mapping[str, str]) -> str:
    """A bidirectional Media Stream; the URL takes no query, so data rides in <Parameter>."""
    response = VoiceResponse()
    connect = Connect()
    media = connect.stream(url=url)
    for name, value in parameters.items():
        media.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def no_reply() -> str:
    """An answer to an inbound text that sends nothing back (Twilio answers keywords)."""
    return str(MessagingResponse())
