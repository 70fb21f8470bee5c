"""The shared state of a package drawn in chunks: files in a work folder, claims in Redis.

The parent job writes, in one pass over its snapshot of the assets, a spool file per chunk
(`assets-0003.jsonl`: each asset with the pages the plan gave it, after a header line with the
chunk's first page) and `heading.json` (what every page prints, and the page total). Renderers
read only these files: every chunk shows the same data as the workbook and the contents, even
while an import changes the assets, and needs no database.

`Board` is the Redis side, namespaced by job and attempt (`<prefix>:pkg:<job>:<attempt>:…`):
who holds each chunk (a claim with a lease, renewed at every page tick), pages drawn so far,
chunks done, renders started (so a redo shows), errors, and the stop flag. A claim held by a
process that is gone (same host, pid dead) is taken over at once; any other one when its lease
runs out.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import orjson
import psutil  # type: ignore[import-untyped]
import redis

from synapse.config import Settings
from synapse.jobs.redis_client import cancel_key, get_redis
from synapse.packages.data import AssetRow, Heading

KEEP_SECONDS = 86_400  # every key expires within a day, whatever happens to the parent
# Take a claim over when it is free or its holder is gone: atomically, so only one wins; each
# claim taken counts as a render of the chunk (so a redo shows, even of a chunk whose process
# died the instant after claiming it).
_TAKE = """
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  return 1
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def identity() -> str:
    """Who draws: host, pid and a nonce (`host|pid|nonce`)."""
    return f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex[:8]}"


def holder_pid(holder: str) -> int | None:
    try:
        return int(holder.split("|")[1])
    except (IndexError, ValueError):
        return None


def holder_gone(holder: str) -> bool:
    """The holder ran on this host and its process no longer exists (or is a zombie)."""
    host, _, _ = holder.partition("|")
    pid = holder_pid(holder)
    if host != socket.gethostname() or pid is None:
        return False
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


class Board:
    def __init__(self, settings: Settings, job_id: str, attempt: int) -> None:
        self.settings, self.job_id, self.attempt = settings, job_id, attempt
        self.r = get_redis(settings)
        self.lease_ms = int(settings.package_chunk_lease * 1000)
        # The compare-and-set steps as registered Lua scripts (EVALSHA, sent once per client).
        self._take = self.r.register_script(_TAKE)
        self._renew = self.r.register_script(_RENEW)
        self._release = self.r.register_script(_RELEASE)

    def key(self, name: str) -> str:
        return f"{self.settings.redis_prefix}:pkg:{self.job_id}:{self.attempt}:{name}"

    def _hash(self, name: str, field: int, value: str | int) -> None:
        pipe = self.r.pipeline()
        pipe.hset(self.key(name), str(field), value)
        pipe.expire(self.key(name), KEEP_SECONDS)
        pipe.execute()

    def claim(self, index: int, me: str) -> bool:
        """Hold chunk `index` (free, or its holder gone); False when it is done or held."""
        if self.r.hexists(self.key("done"), str(index)):
            return False
        key = self.key(f"owner:{index}")
        held = cast("bytes | None", self.r.get(key))
        previous = "" if held is None else held.decode()
        if previous and not holder_gone(previous):
            return False
        took = self._take(
            keys=[key, self.key("renders")],
            args=[me, previous or "\x00", self.lease_ms, index, KEEP_SECONDS],
        )
        return bool(took)

    def renew(self, index: int, me: str) -> bool:
        owner = self.key(f"owner:{index}")
        return bool(self._renew(keys=[owner], args=[me, self.lease_ms]))

    def release(self, index: int, me: str) -> None:
        self._release(keys=[self.key(f"owner:{index}")], args=[me])

    def holders(self, count: int) -> list[str | None]:
        if count == 0:
            return []
        values = self.r.mget([self.key(f"owner:{i}") for i in range(count)])
        return [None if v is None else cast("bytes", v).decode() for v in values]

    def drawn(self, index: int, pages: int) -> None:
        self._hash("pages", index, pages)

    def finished(self, index: int, me: str, info: dict[str, Any]) -> None:
        self._hash("done", index, json.dumps(info))
        self.release(index, me)
        self.wake()

    def failed(self, index: int, me: str, error: str) -> None:
        self._hash("failed", index, error[:2000])
        self.release(index, me)
        self.wake()

    def wake(self) -> None:
        pipe = self.r.pipeline()
        pipe.rpush(self.key("wake"), 1)
        pipe.expire(self.key("wake"), KEEP_SECONDS)
        pipe.execute()

    def wait(self, seconds: float) -> None:
        """Until a chunk ends (or `seconds`)."""
        self.r.blpop([self.key("wake")], timeout=seconds)

    def stop(self) -> None:
        self.r.set(self.key("stop"), 1, ex=KEEP_SECONDS)

    def stopped(self) -> bool:
        """The parent stopped the chunks, or someone asked to cancel the package."""
        try:
            return bool(self.r.exists(self.key("stop"), cancel_key(self.settings, self.job_id)))
        except redis.RedisError:  # Redis away: carry on, the parent decides
            return False

    def state(self) -> tuple[dict[int, dict[str, Any]], dict[int, int], dict[int, str]]:
        """Chunks done (with what they report), pages drawn so far, errors."""
        pipe = self.r.pipeline()
        for name in ("done", "pages", "failed"):
            pipe.hgetall(self.key(name))
        done, pages, failed = pipe.execute()
        return (
            {int(k): json.loads(v) for k, v in done.items()},
            {int(k): int(v) for k, v in pages.items()},
            {int(k): v.decode() for k, v in failed.items()},
        )

    def renders(self) -> dict[int, int]:
        raw = self.r.hgetall(self.key("renders"))
        return {int(k): int(v) for k, v in raw.items()}

    def clear(self, count: int) -> None:
        """Forget everything but the stop flag (late chunk messages still find it)."""
        names = ["done", "pages", "failed", "renders", "wake"]
        names += [f"owner:{i}" for i in range(count)]
        self.r.delete(*[self.key(n) for n in names])


@dataclass(frozen=True)
class ChunkHeader:
    index: int
    first_page: int  # the page number of its first page in the whole PDF (1-based)
    pages: int
    assets: int


class WorkDir:
    """`<data>/packages/work/<job>-<attempt>/`: heading, spool files and drawn parts."""

    def __init__(self, settings: Settings, job_id: str, attempt: int) -> None:
        self.path = settings.data_dir / "packages" / "work" / f"{job_id}-{attempt}"

    def spool(self, index: int) -> Path:
        return self.path / f"assets-{index:04d}.jsonl"

    def part(self, index: int) -> Path:
        return self.path / f"part-{index:04d}.pdf"

    @property
    def front(self) -> Path:
        return self.path / "front.pdf"

    def write_heading(self, heading: Heading, total_pages: int, first_pages: list[int]) -> None:
        data = {"heading": asdict(heading), "total_pages": total_pages, "first": first_pages}
        (self.path / "heading.json").write_bytes(orjson.dumps(data))

    def heading(self, index: int) -> tuple[Heading, int, int]:
        """What every page prints, the page total and the first page of chunk `index`."""
        data = orjson.loads((self.path / "heading.json").read_bytes())
        fields = data["heading"]
        fields["asset_types"] = tuple(fields["asset_types"])
        return Heading(**fields), int(data["total_pages"]), int(data["first"][index])

    def sheets(self, index: int) -> list[tuple[str, str, int]]:
        """The chunk's planned sheets: tag, type, pages."""
        with self.spool(index).open("rb") as f:
            f.readline()
            return [(row[0], row[1], row[3]) for row in map(orjson.loads, f)]

    def assets(self, index: int) -> Iterator[AssetRow]:
        with self.spool(index).open("rb") as f:
            f.readline()
            for line in f:
                tag, typ, props, _ = orjson.loads(line)
                yield AssetRow(tag, typ, props)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Spooler:
    """Writes the spool files while the plan is made: a new chunk every `size` assets."""

    def __init__(self, work: WorkDir, size: int) -> None:
        self.work, self.size = work, size
        self.headers: list[ChunkHeader] = []
        self._rows: list[bytes] = []
        self._pages = 0

    def add(self, asset: AssetRow, pages: int) -> None:
        self._rows.append(orjson.dumps([asset.tag, asset.type, asset.properties, pages]))
        self._pages += pages
        if len(self._rows) >= self.size:
            self._flush()

    def finish(self, first_page: int) -> list[ChunkHeader]:
        """Close the last chunk; number the pages from `first_page` (after the front matter)."""
        self._flush()
        page, numbered = first_page, []
        for h in self.headers:
            numbered.append(ChunkHeader(h.index, page, h.pages, h.assets))
            page += h.pages
        self.headers = numbered
        return numbered

    def _flush(self) -> None:
        if not self._rows:
            return
        index = len(self.headers)
        header = ChunkHeader(index, 0, self._pages, len(self._rows))
        body = b"\n".join(self._rows) + b"\n"
        self.work.spool(index).write_bytes(orjson.dumps(asdict(header)) + b"\n" + body)
        self.headers.append(header)
        self._rows, self._pages = [], 0
