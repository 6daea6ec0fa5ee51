"""Tools Kimi may call: Moonshot's built-in web search and plugins from entry points."""
