"""Exit 0 when PostgreSQL and Redis answer, 1 (with the reason) otherwise. Used by `make test`."""

from __future__ import annotations

import sys

import psycopg
import redis


def main(pg_url: str, redis_url: str) -> int:
    ok = True
    try:
        psycopg.connect(pg_url.replace("postgres://", "postgresql://"), connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"PostgreSQL at {pg_url} is unreachable: {exc}", file=sys.stderr)
        ok = False
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        print(f"Redis at {redis_url} is unreachable: {exc}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
