"""Seedream Discord bot: core (config, providers, jobs, storage, images, UI)."""
