"""Object store on any fsspec file system: ``s3://bucket/prefix``, ``memory://``, …"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from assay.errors import AccessDeniedError, AssayError, InputError, NotFoundError
from assay.extras import import_optional
from assay.store._base import ObjectStore, check_key

__all__ = ["FsspecStore", "public_options"]

_EXTRA_FOR = {"s3": "s3", "s3a": "s3"}
_BUCKETED = {"s3", "s3a"}  # URLs whose first path part is a bucket, which must exist and which assay never makes
_WEB = {"http", "https"}  # read-only, listed through links: a missing or unreachable site lists as empty
# The names S3's clients send; stricter rules (lower case, 3 to 63 characters) are the server's to apply.
_BUCKET = re.compile(r"[A-Za-z0-9.\-_]{1,255}")
_HOST = re.compile(r"((?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)*(?!-)[A-Za-z0-9-]{1,63}(?<!-)\.?")
# Options that hold a credential (by name, case-insensitive): never shown, in messages or listings.
_SECRET_OPTION = re.compile(r"key|secret|token|password|passwd|credential|auth", re.IGNORECASE)
_ENDPOINT_HINT = "give the endpoint as a URL with its scheme, e.g. http://127.0.0.1:9000 or https://s3.example.com"


F = TypeVar("F", bound=Callable[..., Any])

# Exceptions (by class name: botocore and aiohttp are not imported here) that mean the
# store could not be reached, or would not take these credentials.
_UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                "ClientConnectorError", "ServerDisconnectedError", "ClientOSError", "ConnectionError", "TimeoutError"}
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}


def _plain(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def public_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` as they may be shown: the value of each one named like a credential
    (``key``, ``secret``, ``token``, ``password``, …, also inside a table) is ``***``, and so
    are the credentials in a URL's ``USER:PASSWORD@``."""
    return {name: "***" if _SECRET_OPTION.search(str(name)) else public_options(value) if isinstance(value, dict)
            else _without_userinfo(value) for name, value in options.items()}


def _without_userinfo(value: Any) -> Any:
    if not (isinstance(value, str) and "://" in value):
        return value
    parts = urlsplit(value)
    if "@" not in parts.netloc:
        return value
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


def _causes(exc: BaseException) -> set[str]:
    """The class names of ``exc`` and of the exceptions it was raised from, and the error codes
    an S3 server answered with (s3fs keeps botocore's error as the cause)."""
    names: set[str] = set()
    here: BaseException | None = exc
    for _ in range(8):
        if here is None:
            break
        names.update(cls.__name__ for cls in type(here).__mro__)
        response = getattr(here, "response", None)
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            names.add(str(response["Error"].get("Code")))
        here = here.__cause__ or here.__context__
    return names


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
            raise AccessDeniedError(f"{self.url} refused access: {_plain(exc)}",
                             hint="check the credentials and what they may do in that bucket") from None
        except Exception as exc:
            names = _causes(exc)
            if "NoSuchBucket" in names:
                raise self._no_bucket() from None
            if "InvalidBucketName" in names:
                raise InputError(f"{self.url}: the server refuses the bucket name {self._bucket!r}: {_plain(exc)}",
                                 hint="bucket names are 3 to 63 lower-case letters, digits, '.' and '-'; "
                                      "check the URL") from None
            if isinstance(exc, ValueError) and str(exc).startswith("Invalid endpoint"):  # botocore's, at first use
                raise InputError(f"cannot open {self.url}: {_plain(exc)}", hint=_ENDPOINT_HINT) from None
            if isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc):  # an option of ours
                raise InputError(f"{self.url} does not take an option given for it: {_plain(exc)}",
                                 hint="check its options in .assay/config.toml") from None
            if names & _NO_CREDENTIALS:
                raise InputError(f"no credentials for {self.url}: {_plain(exc)}",
                                 hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile") from None
            if names & _UNREACHABLE:
                raise InputError(f"cannot reach {self.url}: {_plain(exc)}",
                                 hint="check the URL, the endpoint (--endpoint-url) and the network; "
                                      "then rerun: what was sent stays sent") from None
            raise

    return wrapper  # type: ignore[return-value]


def _check_url(url: str, protocol: str, options: dict[str, Any]) -> None:
    """Refuse, before anything is sent, what no server could take: an S3 URL without a
    valid bucket name, an endpoint that is not an http(s) URL."""
    if protocol in _BUCKETED:
        bucket = url.split("://", 1)[1].split("/", 1)[0]
        if not _BUCKET.fullmatch(bucket):
            raise InputError(f"{url!r} names no bucket" if not bucket else f"{url!r}: {bucket!r} is not a bucket name",
                             hint=f"give it as {protocol}://BUCKET/PREFIX; bucket names are lower-case letters, "
                                  "digits, '.' and '-'")
        prefix = url.split("://", 1)[1][len(bucket):].rstrip("/")
        if "//" in prefix:
            # S3 keeps an empty part in its keys ("/team/..."), which no listing under "team/" finds:
            # a remote there takes every push and never shows what it holds.
            fixed = f"{protocol}://{bucket}/" + "/".join(p for p in prefix.split("/") if p)
            raise InputError(f"{url!r} has an empty part in its path (a doubled '/')",
                             hint=f"give it as {fixed.rstrip('/')}")
    if protocol in _WEB and "endpoint_url" in options:
        raise InputError(f"{url} is a web address: endpoint_url is for s3:// URLs", hint="leave out --endpoint-url")
    client_kwargs = options.get("client_kwargs")
    endpoints = [options.get("endpoint_url"), client_kwargs.get("endpoint_url") if isinstance(client_kwargs, dict) else None]
    for endpoint in endpoints:
        if endpoint is None:
            continue
        parts = urlsplit(str(endpoint))
        if isinstance(endpoint, str) and "@" in parts.netloc:
            # botocore refuses them at the first request ("Cannot combine AUTHORIZATION header with
            # ... credentials encoded in URL"), an internal error; and a config keeps no credentials.
            without = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
            raise InputError(f"the endpoint URL for {url} holds credentials (USER:PASSWORD@ before its host), "
                             "which the config does not keep and S3 does not take from a URL",
                             hint=f"give it as {without}, and the credentials where the AWS tools read them: "
                                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile")
        if not (isinstance(endpoint, str) and parts.scheme in ("http", "https") and parts.hostname
                and (_HOST.fullmatch(parts.hostname) or ":" in parts.hostname) and not re.search(r"\s", endpoint)):
            raise InputError(f"{endpoint!r} is not an endpoint URL (for {url})", hint=_ENDPOINT_HINT)
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise InputError(f"{endpoint!r} is not an endpoint URL (for {url}): its port is not a number",
                             hint=_ENDPOINT_HINT) from None


class FsspecStore(ObjectStore):
    def __init__(self, url: str, **options: Any) -> None:
        fsspec = import_optional("fsspec", "s3")
        protocol = url.split("://", 1)[0]
        if protocol in _EXTRA_FOR:
            import_optional("s3fs", _EXTRA_FOR[protocol])
        _check_url(url, protocol, options)
        try:
            self.fs, self.base = fsspec.core.url_to_fs(url, **options)
        except (ValueError, ImportError, TypeError) as exc:
            raise InputError(f"cannot open object store {url!r}: {exc}",
                             hint="check the URL and its options (in .assay/config.toml)") from None
        except OSError as exc:  # a file system that connects or opens a file when made (ftp://, zip://): exit 3, before
            raise InputError(f"cannot open object store {url!r}: {_plain(exc)}",
                             hint="check the URL (its host, or the file it names) and that it can be reached from here") from None
        self.url = url
        self.protocol = protocol
        self.base = self.base.rstrip("/")
        self._bucket = self.base.split("/", 1)[0] if protocol in _BUCKETED else ""
        self.bucketed = protocol in _BUCKETED

    def _path(self, key: str) -> str:
        return f"{self.base}/{check_key(key)}"

    def _no_bucket(self) -> InputError:
        return InputError(f"the bucket {self._bucket!r} does not exist ({self.url})",
                          hint="check the bucket's name and the endpoint it is on (endpoint_url); assay does not "
                               "make buckets: create it with your storage's tools first")

    def _missing(self, key: str, exc: FileNotFoundError) -> InputError:
        """What a "not found" answer for ``key`` means: the bucket is not there, or the object."""
        if "NoSuchBucket" in _causes(exc):
            return self._no_bucket()
        return NotFoundError(f"object {key} is missing from {self.url}")

    @_reaching
    def check(self) -> str | None:
        """One request (a listing of the top of the prefix) that says whether the store is
        there for these credentials: a missing bucket or refused credentials are raised
        (:class:`InputError`, exit 2); a server that cannot be reached is not the URL's fault
        (an offline laptop): said in the string returned. None: reached."""
        try:
            self.fs.ls(self.base, detail=False, refresh=True)
        except FileNotFoundError as exc:
            if "NoSuchBucket" in _causes(exc):
                raise self._no_bucket() from None
            # an empty prefix in a bucket that is there: an empty store
        except Exception as exc:
            if _causes(exc) & _UNREACHABLE and not isinstance(exc, PermissionError):
                return f"could not reach {self.url} to check it: {_plain(exc)}"
            raise
        return None

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
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from None

    @_reaching
    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            return self.fs.cat_file(self._path(key), start=start, end=start + length)
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from None
        except OSError:
            # A range that starts past the end (S3 answers 416): a short read, as from a file.
            if start >= self.size(key):
                return b""
            raise

    @_reaching
    def move(self, key: str, new_key: str) -> None:
        try:
            self.fs.mv(self._path(key), self._path(new_key))
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from None

    @_reaching
    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    @_reaching
    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from None

    @_reaching
    def modified(self, key: str) -> float:
        try:
            return float(self.fs.modified(self._path(key)).timestamp())
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from None

    @_reaching
    def list(self, prefix: str) -> Iterator[str]:
        root = f"{self.base}/{prefix}".rstrip("/")
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(root)  # whole, here: a failure is raised (and translated) now
        except FileNotFoundError as exc:
            # No keys under the prefix is an empty listing; no bucket is no store (raised as such).
            if "NoSuchBucket" in _causes(exc):
                raise
            found = []
        if not found and self.protocol in _WEB:  # the site itself: is it there?
            try:
                self.fs.info(self.base)
            except FileNotFoundError as exc:
                if _causes(exc) & _UNREACHABLE:
                    raise exc.__cause__ or exc from None  # said as "cannot reach", with the reason
                raise InputError(f"nothing is at {self.url}", hint="check the URL") from None
        strip = len(self.base) + 1
        return iter([path[strip:] for path in sorted(found)])

    @_reaching
    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass
