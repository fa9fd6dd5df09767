"""The two front-ends over the one control API: gRPC (primary) and the XML-RPC shim.

Owns: translation between wire formats and ``control``/``model`` values only; what both show
alike is ``presentation``.
May import: control, model, errors, config (for parsing), the generated supgrpc package, psutil
(per-pid resource figures, in ``grpc.resources``).
Threading: their own server threads; they reach the loop only through ``control``.
"""
