"""Generated gRPC code for supgrpc (from proto/; never edit)."""
