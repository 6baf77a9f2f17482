"""What people do to alerts: follow up, mute, unmute, replay (`service.py`), and the
mute stage's decision (`mutes.py`)."""
