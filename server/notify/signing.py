"""Request signatures of the chat-bot webhooks, exactly as their documentation gives them.

Feishu custom bot: ``sign = base64(HMAC-SHA256(key = f"{timestamp}\\n{secret}", message = b""))`` with
``timestamp`` in seconds, both sent in the JSON body. DingTalk custom robot: ``sign = urlencode(base64(
HMAC-SHA256(key = secret, message = f"{timestamp}\\n{secret}")))`` with ``timestamp`` in milliseconds, both
sent as query parameters. Both services refuse a timestamp more than an hour away from their clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def feishu_sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The base64 signature (the caller URL-encodes it as a query parameter)."""
    msg = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()
