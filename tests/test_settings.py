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
