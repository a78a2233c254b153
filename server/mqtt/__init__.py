"""MQTT+UDP device transport (reference §6): embedded broker, per-device credentials, UDP audio, notify push."""
