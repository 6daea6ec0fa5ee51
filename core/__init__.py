"""Platform-neutral core of kimi-bot: configuration, catalog, Kimi client, assistant, commands."""
