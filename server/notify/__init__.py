"""Notification channels (WeCom, Feishu, DingTalk, generic webhook, Tencent Cloud SMS) and the escalation ladder
that uses them when nobody acknowledges a case at the robot."""
