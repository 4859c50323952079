"""Thin Faust wiring: the app, topic and table declarations, and agents that loop,
call the pure core in `streams/`, send results and hand batches to sinks.

`build_worker(settings)` assembles everything for one worker process.
"""
