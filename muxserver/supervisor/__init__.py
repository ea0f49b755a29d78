"""The supervisor: the process that runs no tenant code and serves no tenant request.

:mod:`.supervisor` is the process (listeners, signals, what runs beside);
:mod:`.pool` starts, watches and replaces the serving processes;
:mod:`.channel` is the one way the supervisor and a serving process talk.
"""
