"""Object store on any fsspec file system: ``s3://bucket/prefix``, ``memory://``, …"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from assay.errors import AssayError, InputError, NotFoundError
from assay.extras import import_optional
from assay.store._base import ObjectStore, check_key

__all__ = ["FsspecStore"]

_EXTRA_FOR = {"s3": "s3", "s3a": "s3"}


F = TypeVar("F", bound=Callable[..., Any])

# Exceptions (by class name: botocore and aiohttp are not imported here) that mean the
# store could not be reached, or would not take these credentials.
_UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                "ClientConnectorError", "ServerDisconnectedError", "ClientOSError", "ConnectionError", "TimeoutError"}
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}


def _plain(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _reaching(method: F) -> F:
    """A store that cannot be reached, or refuses access, is the user's to fix (exit 2, with
    what to check), not an internal error."""

    @functools.wraps(method)
    def wrapper(self: FsspecStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except AssayError:
            raise
        except PermissionError as exc:
            raise InputError(f"{self.url} refused access: {_plain(exc)}",
                             hint="check the credentials and what they may do in that bucket") from None
        except Exception as exc:
            chain: list[BaseException] = []
            here: BaseException | None = exc
            while here is not None and len(chain) < 8:
                chain.append(here)
                here = here.__cause__ or here.__context__
            names = {cls.__name__ for e in chain for cls in type(e).__mro__}
            if names & _NO_CREDENTIALS:
                raise InputError(f"no credentials for {self.url}: {_plain(exc)}",
                                 hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile") from None
            if names & _UNREACHABLE:
                raise InputError(f"cannot reach {self.url}: {_plain(exc)}",
                                 hint="check the URL, the endpoint (--endpoint-url) and the network; "
                                      "then rerun: what was sent stays sent") from None
            raise

    return wrapper  # type: ignore[return-value]


class FsspecStore(ObjectStore):
    def __init__(self, url: str, **options: Any) -> None:
        fsspec = import_optional("fsspec", "s3")
        protocol = url.split("://", 1)[0]
        if protocol in _EXTRA_FOR:
            import_optional("s3fs", _EXTRA_FOR[protocol])
        try:
            self.fs, self.base = fsspec.core.url_to_fs(url, **options)
        except (ValueError, ImportError) as exc:
            raise InputError(f"cannot open object store {url!r}: {exc}") from None
        self.url = url
        self.base = self.base.rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self.base}/{check_key(key)}"

    @_reaching
    def put_bytes(self, key: str, data: bytes) -> None:
        # S3 PUTs are atomic: a reader sees the old object, the new one, or none.
        self.fs.pipe_file(self._path(key), data)

    @_reaching
    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        self.fs.put_file(str(path), self._path(key))
        if move:
            Path(path).unlink(missing_ok=True)

    @_reaching
    def get_bytes(self, key: str) -> bytes:
        try:
            return self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    @_reaching
    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            return self.fs.cat_file(self._path(key), start=start, end=start + length)
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None
        except OSError:
            # A range that starts past the end (S3 answers 416): a short read, as from a file.
            if start >= self.size(key):
                return b""
            raise

    @_reaching
    def move(self, key: str, new_key: str) -> None:
        try:
            self.fs.mv(self._path(key), self._path(new_key))
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    @_reaching
    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    @_reaching
    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    @_reaching
    def modified(self, key: str) -> float:
        try:
            return float(self.fs.modified(self._path(key)).timestamp())
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    @_reaching
    def list(self, prefix: str) -> Iterator[str]:
        root = f"{self.base}/{prefix}".rstrip("/")
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(root)  # whole, here: a failure is raised (and translated) now
        except FileNotFoundError:
            return iter(())
        strip = len(self.base) + 1
        return iter([path[strip:] for path in sorted(found)])

    @_reaching
    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass
