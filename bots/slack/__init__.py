"""The Slack adapter: DMs and channel threads, native streaming, exactly-once answers."""

from bots.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]
