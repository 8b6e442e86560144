"""The thin gateway: strips the mount prefix and routes by path prefix to the services."""
