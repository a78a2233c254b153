"""Device side of xiaozhi: protocol codecs, Opus/audio utilities, OTA models, the virtual device.

Imports nothing of the project (see ARCHITECTURE.md).
"""
