"""The SMS factor: enroll, verify and disable a phone, with provider adapters and pumping
controls."""
