"""Bluesky / AT Protocol: posts, mentions and replies of an account; reply, publish, delete, mute, block."""
