"""Helpers every test package shares: messages to send, what Moonshot received, waiting."""
