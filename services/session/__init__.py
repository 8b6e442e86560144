"""The session service: MFA session start, policy, devices, step-up, recovery and JWKS."""
