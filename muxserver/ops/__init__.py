"""Operations, beside the request path: logs, metrics, the hub watchdog and
giving memory back to the operating system."""
