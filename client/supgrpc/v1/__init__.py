"""supgrpc.v1: generated from proto/supgrpc/v1/."""
