"""wsdoctor: why do WebSocket connections to this deployment fail or drop, and what to change."""

__version__ = "0.1.0"
