"""Every setting is documented in .env.example, and .env.example names no setting that doesn't exist."""

import re

from server.config import Settings
from tests.paths import REPO


def test_env_example_documents_every_setting() -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*XOPS_([A-Z0-9_]+)=", text, re.M))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "undocumented settings"
    assert documented - fields == set(), "documented settings that don't exist"


def test_env_example_holds_no_secret_values() -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    for line in text.splitlines():
        if re.match(
            r"^#?\s*XOPS_(LLM_API_KEY|MASTER_KEY|ADMIN_TOKEN|ALERT_BASIC_PASSWORD|EXECUTOR_TOKEN|MQTT_SECRET)=",
            line,
        ):
            assert line.split("=", 1)[1].strip() == "", line
