"""What people do to alerts: follow up, mute, unmute (contract section 13)."""
