"""The email service: email-code login (send a one-time code over SMTP, verify it)."""
