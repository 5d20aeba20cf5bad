"""Cascade XML files trained by fer_toolkit itself (installed as ``fer_toolkit.cascades``).

Each file is listed in ``README.md`` beside it with the exact command that
produced it. :func:`fer_toolkit.detection.resolve_cascade` finds them by name.
"""
