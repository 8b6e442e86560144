"""Common code of the MFA service: settings, errors, stores, tokens and the MFA core."""
