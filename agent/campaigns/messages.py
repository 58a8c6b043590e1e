"""The text a campaign sends: a link to the chat, and nothing about any debt.

A text can be read by anyone holding the phone, so it says only who is writing and
where to answer (the limited-content idea of the voicemail rules); the chat verifies
identity before the account is discussed."""

from __future__ import annotations

from agent.settings import Settings

LINK_PATH = "/c/"
TEXTS = {
    "en": "{business}: we have a message for you about a personal business matter. "
    "Reply in our secure chat: {link} (reply STOP to opt out)",
    "zh": "{business}：我们有一件私人事务需要与您沟通。请通过安全聊天回复：{link}（回复 TD 退订）",
}


def chat_link(settings: Settings, token: str) -> str:
    base = (settings.chat_link_base or settings.public_base_url).rstrip("/")
    return f"{base}{LINK_PATH}{token}"


def link_text(locale: str, business: str, link: str) -> str:
    template = TEXTS["zh" if locale.startswith("zh") else "en"]
    return template.format(business=business, link=link)
