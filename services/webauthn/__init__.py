"""The webauthn service: security keys and platform authenticators as a second factor."""
