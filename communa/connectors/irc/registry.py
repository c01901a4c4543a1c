"""The live IRC connections of this worker process, one per source.

The listener builds a new connector object for every fetch, but an IRC connection must outlive them: it
is the only way to hear what is said. So connections live here, keyed by the source's stable key, and
each connector object finds its source's connection (or starts it). A connection whose settings changed
is replaced; one that stopped (failed for good, or idle because nobody fetched or wrote for a while: the
source was paused, or another worker took it over) is started afresh on the next use.
"""

from __future__ import annotations

import threading

from communa.connectors.irc.client import ClientSettings, IrcClient

_clients: dict[str, IrcClient] = {}
_lock = threading.Lock()


def client_for(key: str, settings: ClientSettings) -> IrcClient:
    """The client of source `key` with these settings, started if there is none.

    A client that failed for good is returned as it is, so that the caller can report its failure (and then
    `forget` it); one that stopped for being idle is replaced.
    """
    with _lock:
        client = _clients.get(key)
        if client is not None and client.settings == settings and (client.alive or client.failure):
            client.touch()
            return client
        if client is not None:
            client.stop()
        client = IrcClient(settings)
        client.start()
        _clients[key] = client
        return client


def forget(key: str, client: IrcClient) -> None:
    """Drop `client` (stopped for good) so that the next use starts a new one."""
    with _lock:
        if _clients.get(key) is client:
            del _clients[key]
    client.stop()


def stop_all() -> None:
    """Close every connection (tests, and a worker shutting down)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.stop()
