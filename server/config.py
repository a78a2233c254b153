"""The one settings object, read from the environment and `.env` (prefix ``XOPS_``).

Every option here is documented in `.env.example`. Owner secrets never live here: they are in the vault.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XOPS_", env_file=".env", extra="ignore")

    # --- service ---
    host: str = "0.0.0.0"
    public_host: str = ""  # host name devices use to reach us (OTA websocket URL); empty = best guess
    ws_port: int = 8000
    http_port: int = 8003
    mcp_port: int = 8004  # MCP tools over streamable HTTP at /mcp (0 = a free port)
    mcp_host: str = "127.0.0.1"  # MCP over HTTP (needs the admin token); 0.0.0.0 to reach it from the LAN
    data_dir: Path = Path("data")
    results_dir: Path = Path("analysis_results")
    log_level: str = "INFO"
    timezone: str = "Asia/Shanghai"

    # --- devices ---
    auth_mode: Literal["open", "token"] = "open"
    device_tokens: str = ""  # comma-separated accepted tokens when auth_mode=token
    hello_timeout_s: float = 10.0
    idle_timeout_s: float = 120.0
    max_frame_bytes: int = 16384
    ws_ping_interval_s: float = 20.0  # our own keepalive pings (0 = none); the library's keepalive is off
    ws_ping_timeout_s: float = 90.0  # close only after this long with no frame at all (data or pong)
    device_max_msgs_per_s: float = 100.0  # per connection; over it the device is slowed (0 = no limit)
    device_max_bytes_per_s: float = 64000.0  # per connection
    device_flood_close_s: float = 5.0  # seconds of being slowed before the socket is closed with 1008
    firmware_version: str = "2.4.2"  # echoed to devices that report none (must be numeric dotted)

    # --- speech ---
    whisper_dir: Path | None = None  # default: <data_dir>/models/whisper-base
    asr_threads: int = 2
    asr_window_s: int = 10
    asr_rescore: bool = True  # weak readings: Whisper scores candidate commands (intent/rescore.py)
    # the trained intent classifier, kept between starts (intent/classifier.py ``trained``); shared by every
    # server on the machine: default $XDG_CACHE_HOME/xiaozhi-ops, else ~/.cache/xiaozhi-ops
    intent_cache_dir: Path | None = None
    vad_threshold: float = 0.5
    vad_silence_ms: int = 400
    vad_adaptive: bool = (
        True  # hold a pause open after unfinished words; end at once after a finished command
    )
    vad_hold_silence_ms: int = 1300
    tts_engine: Literal["edge", "neural", "espeak"] = "edge"
    edge_tts_voice: str = "zh-CN-XiaoxiaoNeural"
    edge_tts_timeout_s: float = 1.5
    espeak_voice: str = "cmn-latn-pinyin"
    downlink_sample_rate: int = 16000

    # --- logs & pipeline ---
    log_source: Literal["local", "cos"] = "local"
    local_log_dir: Path | None = None  # default: <data_dir>/logs
    default_owner: str = "default"
    pipeline_cron: str = "0 1 * * *"
    sample_lines: int = 60000  # size of the sample day `make run` generates
    sample_data: bool = (
        True  # demo flag: generate a sample day for owners whose log directory holds no real logs
    )
    cos_endpoint: str = (
        ""  # override the COS endpoint for every owner, e.g. http://127.0.0.1:9000 (private link)
    )

    # --- LLM (optional; deterministic analyst without it) ---
    llm_base_url: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 20.0
    llm_requests_per_minute: int = 30

    # --- storage ---
    database_url: str = ""  # empty = SQLite file under data_dir; e.g. postgresql+psycopg://user@host/db

    # --- security ---
    master_key: SecretStr = SecretStr("")  # vault key; empty = generated key file data/vault.key (0600)
    admin_token: SecretStr = SecretStr(
        ""
    )  # /api and /mcp bearer token; empty = generated <data_dir>/admin.token
    operator_token: SecretStr = SecretStr("")  # optional: may read and decline/park, never configure
    allowed_hosts: str = ""  # extra Host names the API answers to (comma-separated; local names always)
    console_origins: str = ""  # web console origins allowed to make state-changing requests
    console_secure_cookie: bool = False  # web console cookie only over https (set True behind TLS)
    console_session_hours: float = 8.0  # a console login lasts this long (kept in the database)
    auth_max_failures: int = 10  # failed logins per source within 60 s before a lockout
    auth_lockout_s: float = 60.0
    trusted_proxies: str = ""  # reverse proxies (IPs/CIDRs, comma-separated) whose client header we believe
    trusted_proxy_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"  # the one they set
    http_header_timeout_s: float = 10.0  # request headers must arrive within this (slowloris)
    http_body_timeout_s: float = 60.0  # a request body must arrive within this
    http_max_connections: int = 512  # per HTTP port; more get 503 (also capped below the fd limit)
    device_allowlist: str = ""  # token mode: device ids (MACs) OTA may hand a token without activation
    alert_basic_user: str = ""
    alert_basic_password: SecretStr = SecretStr("")
    alert_path_token: str = ""
    executor_url: str = ""
    executor_token: SecretStr = SecretStr("")
    executor_dry_run: bool = True
    executor_timeout_s: float = 120.0  # per executor call; a rollout undo can take minutes to answer
    alert_account_owners: str = ""  # cloud account → owner, e.g. "uin:100001=alice,receiver:team-b=bob"
    device_owners: str = (
        ""  # device id → owner whose queued alerts it may speak, e.g. "aa:bb:cc:dd:ee:ff=alice"
    )
    verify_timeout_s: float = (
        600.0  # after an action: the alert must recover within this, else the case is PARKED
    )
    escalation_policy: str = ""  # JSON {"rungs": {"critical": [{"after_min": 5, "action": "push_again"}, …]}}
    escalation_sweep_s: float = 30.0  # how often unacknowledged cases are checked for a due escalation rung

    # --- MQTT+UDP devices (issue 14) ---
    mqtt_enabled: bool = False  # OTA answers an mqtt block (else the websocket block); embedded broker starts
    mqtt_port: int = 1883  # embedded broker, plain MQTT 3.1.1 (0 = a free port)
    mqtt_tls_port: int = 8883  # embedded broker over TLS, when a cert and key are configured
    mqtt_tls_cert: Path | None = None  # PEM certificate chain for the TLS listener
    mqtt_tls_key: Path | None = None  # PEM private key for the TLS listener
    mqtt_endpoint: str = ""  # host:port told to devices by OTA; empty = public/request host + TLS or TCP port
    mqtt_keepalive_s: int = 240
    mqtt_secret: SecretStr = SecretStr("")  # derives device passwords; empty = <data_dir>/mqtt.secret
    udp_port: int = 8884  # UDP audio (0 = a free port)
    udp_public_host: str = ""  # host devices send UDP audio to; empty = public_host or the OTA request host
    notify_ttl_s: float = 300.0  # a notify audio URL works this long, then 404
    mqtt_external: str = ""  # host:port of an external broker (EMQX) to use instead of the embedded one
    mqtt_external_tls: bool = False  # connect to the external broker over TLS
    mqtt_external_ca: Path | None = None  # CA bundle for that TLS connection (default: the system's)

    @field_validator(
        "whisper_dir",
        "intent_cache_dir",
        "local_log_dir",
        "mqtt_tls_cert",
        "mqtt_tls_key",
        "mqtt_external_ca",
        mode="before",
    )
    @classmethod
    def _empty_path_is_default(cls, value: object) -> object:
        """``XOPS_WHISPER_DIR=`` (as .env.example writes it) means the default, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url)

    @property
    def whisper_path(self) -> Path:
        return self.whisper_dir or self.data_dir / "models" / "whisper-base"

    @property
    def intent_cache_path(self) -> Path:
        if self.intent_cache_dir is not None:
            return self.intent_cache_dir
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        return (Path(xdg) if xdg else Path.home() / ".cache") / "xiaozhi-ops"

    @property
    def logs_path(self) -> Path:
        return self.local_log_dir or self.data_dir / "logs"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "xiaozhi-ops.sqlite3"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    def token_list(self) -> list[str]:
        return [t.strip() for t in self.device_tokens.split(",") if t.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
