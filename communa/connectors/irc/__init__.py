"""IRC (and Twitch chat): a bot connection reads channels live, replies and moderates (docs/connectors/irc.md)."""
