"""The service's configuration: settings from the environment (and .env)."""
