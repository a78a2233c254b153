"""Speech stages: VAD, ASR, TTS, each with a small interface and an offline implementation."""
