"""The workspace configuration file, ``.assay/config.toml``.

Configuration is plain data: a dataclass read from and written to TOML. Writes are
atomic (temp file, fsync, rename) like every other file assay writes.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any

from assay._wording import noun_for
from assay.errors import InputError, UsageError

__all__ = ["Config", "DataSettings", "Remote", "atomic_write_bytes"]

DEFAULT_CHUNK_AVG = 1 << 20


@dataclasses.dataclass
class Remote:
    name: str
    url: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class DataSettings:
    chunk_avg: int = DEFAULT_CHUNK_AVG
    compression: str = "zstd"  # "zstd" or "none"; incompressible chunks are stored raw either way
    zstd_level: int = 1
    pack_size: int = 128 << 20
    jobs: int = 0  # 0: one per core

    def validate(self, source: str = "config") -> None:
        """Refuse a setting assay cannot work with, naming the key, the value and what is allowed."""
        _check_int(source, "data.chunk_avg", self.chunk_avg, 4096, 4 << 20, "bytes, e.g. 1048576 for 1 MiB")
        if self.compression not in ("zstd", "none"):
            raise InputError(f"{source}: data.compression must be 'zstd' or 'none', not {self.compression!r}",
                             hint="fix it in .assay/config.toml")
        _check_int(source, "data.zstd_level", self.zstd_level, -(1 << 17), 22, "higher compresses smaller, slower")
        _check_int(source, "data.pack_size", self.pack_size, 1, None, "bytes per pack file, e.g. 134217728")
        _check_int(source, "data.jobs", self.jobs, 0, None, "worker processes for add and checkout; 0: one per core")


def _check_int(source: str, key: str, value: Any, low: int, high: int | None, meaning: str) -> None:
    allowed = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise InputError(f"{source}: {key} must be {allowed} ({meaning}), not {value!r}",
                         hint="fix it in .assay/config.toml, or remove the line for the default")


@dataclasses.dataclass
class Config:
    """What `.assay/config.toml` holds."""

    ledger: str = "sqlite"  # "sqlite" (the file .assay/ledger.db) or a postgresql:// URL
    store: str = "objects"  # a folder relative to .assay/, an absolute folder, or an fsspec URL
    store_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. endpoint_url for S3-compatible servers
    remotes: dict[str, Remote] = dataclasses.field(default_factory=dict)
    default_remote: str | None = None
    data: DataSettings = dataclasses.field(default_factory=DataSettings)

    # The file's bytes as loaded (empty if not loaded from a file): what a cached answer
    # that depends on the settings was computed under (see assay.data._replay).
    source: bytes = dataclasses.field(default=b"", repr=False, compare=False)

    @classmethod
    def load(cls, path: Path) -> Config:
        try:
            data = path.read_bytes()
            raw = tomllib.loads(data.decode("utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{path} is missing", hint="run `assay init` to create the workspace again") from None
        except UnicodeDecodeError:
            raise InputError(f"{path} is not UTF-8 text", hint="fix the file by hand") from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path} is not valid TOML: {exc}", hint="fix the file by hand") from None
        config = cls.from_dict(raw, source=str(path))
        config.source = data
        return config

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "config") -> Config:
        known = {"ledger", "store", "store_options", "remotes", "default_remote", "data"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InputError(f"{source}: unknown {noun_for(len(unknown), 'key')} {', '.join(unknown)}", hint=f"known keys: {', '.join(sorted(known))}")
        for key in ("ledger", "store", "default_remote"):
            if key in raw and not isinstance(raw[key], str):
                raise InputError(f"{source}: {key} must be a string, not {raw[key]!r}", hint="fix it in .assay/config.toml")
        for key in ("store_options", "remotes", "data"):
            if key in raw and not isinstance(raw[key], dict):
                raise InputError(f"{source}: {key} must be a table ([{key}]), not {raw[key]!r}",
                                 hint="fix it in .assay/config.toml")
        remotes = {}
        for name, body in (raw.get("remotes") or {}).items():
            if not isinstance(body, dict) or not isinstance(body.get("url"), str):
                raise InputError(f"{source}: remote {name!r} needs a url (a string)",
                                 hint=f"fix [remotes.{name}] in .assay/config.toml")
            body = dict(body)
            remotes[name] = Remote(name=name, url=body.pop("url"), options=body)
        data_raw = raw.get("data") or {}
        field_names = {f.name for f in dataclasses.fields(DataSettings)}
        bad = sorted(set(data_raw) - field_names)
        if bad:
            raise InputError(f"{source}: unknown [data] {noun_for(len(bad), 'key')} {', '.join(bad)}",
                             hint=f"known [data] keys: {', '.join(sorted(field_names))}")
        data = DataSettings(**data_raw)
        data.validate(source)
        return cls(
            ledger=str(raw.get("ledger", "sqlite")),
            store=str(raw.get("store", "objects")),
            store_options=dict(raw.get("store_options") or {}),
            remotes=remotes,
            default_remote=raw.get("default_remote"),
            data=data,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ledger": self.ledger, "store": self.store}
        if self.store_options:
            out["store_options"] = dict(self.store_options)
        if self.default_remote:
            out["default_remote"] = self.default_remote
        out["data"] = dataclasses.asdict(self.data)
        if self.remotes:
            out["remotes"] = {r.name: {"url": r.url, **r.options} for r in self.remotes.values()}
        return out

    def save(self, path: Path) -> None:
        import tomli_w

        atomic_write_bytes(path, tomli_w.dumps(self.to_dict()).encode("utf-8"))


def seconds_from_env(name: str, default: float, *, low: float, high: float, unset: str, example: str) -> float:
    """A number of seconds from the environment variable ``name`` (``default`` where it is
    unset or empty), refused (:class:`UsageError`) unless a number from ``low`` to ``high``;
    ``unset`` says what unsetting it means, ``example`` gives a value to try."""
    text = os.environ.get(name, "")
    try:
        value = float(text) if text else default
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a number of seconds",
                         hint=f"unset it ({unset}) or give a number of seconds, e.g. {example}") from None
    if not low <= value <= high or value == float("inf"):  # (nan too: it compares false)
        span = f"{low:g} or more" if high == float("inf") else f"between {low:g} and {high:g}"
        raise UsageError(f"{name}={text!r} is out of range", hint=f"give {span} seconds, or unset it ({unset})")
    return value


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")  # (two threads: two names)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk, or a folder where the file should be: leave nothing behind
        raise
    fsync_dir(path.parent)


def make_folder(path: Path, failure: str, hint: str = "give a folder this user can create and write to") -> None:
    """Make ``path`` (and its parents). A folder that cannot be made here is the user's to fix:
    :class:`InputError` "``failure``: reason"; a full disk is raised as it is (reported with
    what to free)."""
    import errno

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise InputError(f"{failure}: {exc.strerror}", hint=hint) from None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
