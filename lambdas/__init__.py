"""Lambda handlers: thin shells around `seisless` (parse the event, call one function,
shape the reply)."""
