"""The pack indexes of an object store, read into the index cache by several threads at
once: a checkout's writers all meet the index unloaded in a fresh workspace (a teammate's
first checkout from the team's S3 store), and each used to read every index and write it
to the same temp file in the cache, so one's rename found the file another had moved
(an internal error, exit 3)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

from assay.data import add
from assay.data._packs import PackStore
from assay.store import open_store
from assay.workspace import Workspace


def filled_bucket(tmp_path: Path, s3_bucket: str, s3_server: str) -> list[str]:
    """A bucket store holding a dataset in several packs; the keys of their indexes."""
    ws = Workspace.init(tmp_path / "ws", store=s3_bucket, store_options={"endpoint_url": s3_server})
    ws.config.data.pack_size = 1 << 20  # several packs, so several indexes to read
    (ws.root / "d").mkdir()
    for i in range(5):
        (ws.root / "d" / f"{i}.bin").write_bytes(os.urandom(1_200_000))
    add(ws, [ws.root / "d"], name="ds")
    ws.close()
    keys = [k for k in open_store(s3_bucket, endpoint_url=s3_server).list("packs/") if k.endswith(".idx")]
    assert len(keys) > 1
    return keys


def counting_reads(s3_bucket: str, s3_server: str, fetched: Counter[str],  # type: ignore[no-untyped-def]
                   together: threading.Barrier | None = None):
    """The store, with each read counted and slowed, as over a network; with ``together``,
    each read returns only when that many readers have read."""
    store = open_store(s3_bucket, endpoint_url=s3_server)
    real = store.get_bytes

    def get_bytes(key: str) -> bytes:
        fetched[key] += 1
        time.sleep(0.05)
        data = real(key)
        if together is not None:
            together.wait(30)
        return data

    store.get_bytes = get_bytes  # type: ignore[method-assign]
    return store


def at_once(targets: list) -> list[BaseException]:  # type: ignore[type-arg]
    """Run each target in a thread of its own, all started together; what they raised."""
    start = threading.Barrier(len(targets))
    failures: list[BaseException] = []

    def body(target) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=body, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return failures


def test_threads_that_meet_the_index_unloaded_read_it_once(tmp_path: Path, s3_bucket: str,
                                                           s3_server: str) -> None:
    keys = filled_bucket(tmp_path, s3_bucket, s3_server)
    fetched: Counter[str] = Counter()
    packs = PackStore(counting_reads(s3_bucket, s3_server, fetched), cache_dir=tmp_path / "idx")
    failures = at_once([lambda: packs.index for _ in range(8)])
    assert failures == []
    assert {key: fetched[key] for key in keys} == {key: 1 for key in keys}
    assert len(packs.index) >= 5
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted(k.split("/")[1] for k in keys)


def test_two_readers_of_one_cache_in_one_process_do_not_share_a_temp_file(tmp_path: Path, s3_bucket: str,
                                                                          s3_server: str) -> None:
    keys = filled_bucket(tmp_path, s3_bucket, s3_server)
    fetched: Counter[str] = Counter()
    store = counting_reads(s3_bucket, s3_server, fetched, together=threading.Barrier(6))
    readers = [PackStore(store, cache_dir=tmp_path / "idx") for _ in range(6)]  # e.g. Workspace objects on one folder
    failures = at_once([lambda p=p: p.index for p in readers])
    assert failures == []
    assert all(len(p.index) >= 5 for p in readers)
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted(k.split("/")[1] for k in keys)
