"""muxserver: many tenants' Python HTTP functions in one gevent process."""

__version__ = "0.1.0"

__all__ = ["__version__"]
