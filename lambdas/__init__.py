"""Thin Lambda handlers: parse the event, call one function of `seisless`, shape the reply."""
