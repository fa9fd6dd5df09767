"""supgrpc: a PID-1-capable init and process supervisor, controlled over gRPC."""

__version__ = "0.1.0"
