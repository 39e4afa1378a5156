"""The reference service's configuration: settings from the environment (and .env)."""
