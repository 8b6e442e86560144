"""The totp service: authenticator-app enroll, verify and disable, mid-login and logged-in."""
