"""The gRPC front-end: ``supgrpc.v1.SupervisorService`` plus standard health and reflection.

Owns: protobuf <-> control/model translation (``convert``, ``servicer``, ``streams``), the one
error-to-status table and the token check (``interceptors``), where and how it listens
(``listeners``), the grpc.health.v1 statuses (``health``) and /proc figures (``resources``).
May import: control, model, errors, logstore (reader side only), the generated ``supgrpc``
package, grpc, grpc_health, grpc_reflection.
Threading: gRPC's bounded thread pool runs the handlers; they reach the loop only through
``control``. ``GrpcFrontend.process_changed`` is the one entry point called on the loop thread,
and it only records a value and notifies a condition.
"""

from __future__ import annotations

from .server import GrpcFrontend, start_grpc

__all__ = ["GrpcFrontend", "start_grpc"]
