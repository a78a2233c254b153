"""Prometheus metrics of the device transport (exposed by the HTTP app at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTIONS = Counter("xops_device_connections_total", "Device WebSocket connections accepted")
REJECTED = Counter("xops_device_rejected_total", "Device connections refused or closed early", ["reason"])
ACTIVE = Gauge("xops_device_sessions_active", "Device sessions past the hello handshake")
FRAMES_IN = Counter("xops_device_frames_in_total", "Uplink audio frames decoded")
FRAMES_OUT = Counter("xops_device_frames_out_total", "Downlink audio frames sent")
BAD_FRAMES = Counter("xops_device_bad_frames_total", "Uplink binary frames dropped", ["reason"])
BAD_MESSAGES = Counter("xops_device_bad_messages_total", "Text frames that could not be handled", ["reason"])
