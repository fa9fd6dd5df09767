"""The XML-RPC shim: supervisor 4.3.0's API 3.0 over HTTP, on top of ``control``.

Owns: the ``[unix_http_server]``/``[inet_http_server]`` listeners, the ``/RPC2`` method table
(camelCase lives only there), supervisor's Faults, ``/logtail`` and ``/mainlogtail`` streams,
and HTTP basic auth.
May import: control, model, errors, stdlib. Never core, runtime or logstore internals.
Threading: one acceptor thread, one thread per connection (bounded); every call into the
daemon goes through ``control``, so a waiting request blocks only its own connection.

Modules: ``faults`` (codes and error translation), ``codec`` (XML-RPC bodies), ``http``
(HTTP/1.x framing and limits), ``auth`` (basic auth), ``sockets`` (binding), ``structs``
(namespecs, argument checks, return shapes), ``supervisor_ns`` (the ``supervisor.*``
methods), ``rpc`` (the wire-name table, ``system.*``, dispatch), ``logtail`` (streams),
``server`` (connections, routing, ``start_xmlrpc``). Compatibility notes:
docs/xmlrpc-compat.md.
"""
