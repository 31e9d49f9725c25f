"""seisless: serverless, event-driven seismic processing and imaging."""

__version__ = "0.1.0"
