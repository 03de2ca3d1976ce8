"""kapsec: secure the Kubernetes API server, and prove it."""

__version__ = "0.1.0"
