"""Lambda handlers: thin shells around `seisless` (one container image, one cmd each)."""
