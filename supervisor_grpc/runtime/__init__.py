"""The only process I/O: inbox, signals, spawner, reaper and the loop.

Owns: everything that touches the OS on behalf of the loop thread.
May import: model, errors, stdlib.
Threading: loop thread only, except ``Inbox.submit`` (any thread).
"""
