"""supgrpc: a PID-1-capable init and process supervisor, controlled over gRPC.

Owns: the version string. May import: nothing (every room may import it).
Threading: a constant.
"""

__version__ = "0.1.0"
