"""The three-log pipeline: sources, parsing, template mining, log agents, vector index, analyst, tracer.

Never imports ``server``; configuration is passed in explicitly.
"""
