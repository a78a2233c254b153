"""The dialogue: one SessionHandler per device connection, a turn state machine, and the skills that answer."""
