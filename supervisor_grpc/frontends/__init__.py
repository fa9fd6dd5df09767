"""The two front-ends over the one control API: gRPC (primary) and the XML-RPC shim.

Owns: translation between wire formats and ``control``/``model`` values only.
May import: control, model, errors, config (for parsing), the generated supgrpc package.
Threading: their own server threads; they reach the loop only through ``control``.
"""
