from pathlib import Path

from server.config import Settings


def test_settings_read_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XOPS_WS_PORT", "18000")
    monkeypatch.setenv("XOPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XOPS_LLM_API_KEY", "sk-secret-value")
    s = Settings(_env_file=None)
    assert s.ws_port == 18000
    assert s.db_path == tmp_path / "xiaozhi-ops.sqlite3"
    assert not s.llm_enabled  # a key alone does not enable the LLM; a base URL does
    assert "sk-secret-value" not in repr(s)  # secrets are masked in reprs and logs


def test_an_empty_path_setting_means_its_default(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """.env.example writes ``XOPS_WHISPER_DIR=``: copied to .env, that is the default, not the current directory."""
    for name in ("XOPS_WHISPER_DIR", "XOPS_INTENT_CACHE_DIR", "XOPS_LOCAL_LOG_DIR", "XOPS_MQTT_TLS_CERT"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    s = Settings(_env_file=None, data_dir=tmp_path / "data")
    assert s.whisper_path == tmp_path / "data" / "models" / "whisper-base"
    assert s.logs_path == tmp_path / "data" / "logs"
    assert s.intent_cache_path == tmp_path / "xdg" / "xiaozhi-ops"
    assert s.mqtt_tls_cert is None
    monkeypatch.setenv("XOPS_INTENT_CACHE_DIR", str(tmp_path / "models"))
    assert Settings(_env_file=None).intent_cache_path == tmp_path / "models"
