"""Platform-neutral core of kimi-bot: configuration, catalog, Kimi client, engine, commands."""
