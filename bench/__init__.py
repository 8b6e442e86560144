"""Benchmarks: the TOTP login through the gateway in split mode (real Redis and Postgres, every
process its own), next to a bare aiohttp handler and the gateway hop alone. `make bench`."""
