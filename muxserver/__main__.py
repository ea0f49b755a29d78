"""``python -m muxserver``."""

from muxserver.cli import run

run()
