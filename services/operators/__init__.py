"""The operators service: Frontegg's vendor-only, unlock, migration and configuration routes,
the native admin API and CLI, and the security-event webhook dispatcher."""
