"""The session service: MFA session start, devices, step-up, recovery, trusted devices and JWKS."""
