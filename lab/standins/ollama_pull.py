"""``ollama pull`` in the server: Ollama's PullModel and downloadBlob (server/images.go, server/download.go).

A pull emits Ollama's progress and fails with Ollama's words:

1. ``{"status":"pulling manifest"}``, then ``GET <registry>/v2/<ns>/<model>/manifests/<tag>``
   (``Accept: application/vnd.docker.distribution.manifest.v2+json``), even when the
   model is there. A 404 fails as ``pull model manifest: file does not exist``,
   another status as ``pull model manifest: <code>: <body>``, a registry that
   cannot be reached as ``pull model manifest: Get "<url>": dial tcp: lookup
   registry.ollama.ai: no such host`` (or ``... connect: connection refused``,
   ``tls: failed to verify certificate: x509: ...``).
2. Each layer, then the config: a blob already stored is one event at 100%; any
   other is downloaded, ``{"status":"pulling <12 hex>","digest","total","completed"}``
   every 60 ms (``completed`` left out while 0, as Go's omitempty does) and once
   more at 100%. Two pulls of one blob share its download; when every pull
   waiting for it has gone (its client hung up), the download stops and keeps
   what it has (a pull that comes meanwhile waits for that, then resumes: Ollama
   would join the ending download and fail with ``context canceled``).
3. ``verifying sha256 digest`` (no hash is computed: the stand-in's blobs are not
   the real bytes), ``writing manifest`` (the registry's exact bytes), ``removing
   unused layers`` when the old manifest of the name had layers the new one has
   not (unless OLLAMA_NOPRUNE), ``success``.

A download is Ollama's: a HEAD for the size, parts of size/16 clamped to
100 MB..1000 MB, at most 16 at once, ``blobs/sha256-<hex>-partial`` (sparse, cut
to the full size) and ``-partial-<N>`` (``{"N":0,"Offset":0,"Size":...,"Completed":...}``),
a GET for the direct URL (retried for 30 s, then ``context deadline exceeded``),
then one ranged GET per part and attempt. A part that fails is tried 6 times,
2^n seconds apart, then ``max retries exceeded: <error>``; running out of space
ends it at once: ``write <models>/blobs/sha256-<hex>-partial: no space left on
device``. A part's progress is kept (in its ``-partial-<N>``) when the download
is stopped or the registry hangs up mid-body, and lost when it fails otherwise,
as in Ollama; the next pull resumes from the part files, without a HEAD.
Finished, the part files go and ``-partial`` becomes the blob.

What is not Ollama's: the bytes. Blobs below 1 MiB (configs, templates,
licenses) are read whole; a larger one is paced so that the whole model takes
``seconds`` (OLLAMA_STANDIN_PULL_SECONDS in the server), each part reading and
writing 4 KiB of its body every 0.25 s and counting the rest as written without
writing it. So the blob keeps its real size on disk (sparse) and a pull of any
catalogue model lasts seconds. Room is checked as a real disk would fill: a
step fails with ENOSPC when the bytes written so far (and the bytes other
sparse blobs of the store stand for) would not fit in what ``statvfs`` says is
free, so ``labctl disk full`` stops a pull at its next step.

.. code:: python

    pull_model(Pull(store, Registry("ollama/0.14.3 (arm64 darwin) Go/go1.26.0", None), Name.parse("llama3.2"),
                    emit=events.put, cancelled=threading.Event(), seconds=3))
"""

from __future__ import annotations

import errno
import glob
import http.client
import json
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

if __package__:  # the tests import the stand-in as lab.standins
    from .ollama_store import DEFAULT_HOST, Name, Store, StoreError
else:  # the stand-in program (see ollama.py)
    from ollama_store import DEFAULT_HOST, Name, Store, StoreError

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
PARTS = 16
PART_MIN, PART_MAX = 100 * 10**6, 1000 * 10**6
MAX_RETRIES = 6
PROGRESS_S = 0.06  # Wait's ticker
DIRECT_URL_S = 30  # the window for the GET that finds the direct URL
TICK_S = 0.05
SAMPLE_S = 0.25
SAMPLE_BYTES = 4096
WHOLE_BELOW = 1 << 20  # blobs read in full
CONNECT_TIMEOUT_S = 30  # Go's dialer
READ_TIMEOUT_S = 30  # a part stalled longer is retried (Ollama's stall check)


class PullError(Exception):
    """A pull's failure, worded as Ollama's ``err.Error()``."""


class Canceled(PullError):
    def __init__(self) -> None:
        super().__init__("context canceled")


class Resumable(PullError):
    """The body ended early (Go's io.ErrUnexpectedEOF): the part keeps what it read."""


class NoSpace(PullError):
    """ENOSPC from a write: the download stops at once."""


def _errno_text(error: OSError) -> str:
    """Go's wording of an errno: ``connection refused``, ``no space left on device``."""
    return os.strerror(error.errno).lower() if error.errno else str(error)


@dataclass(frozen=True)
class Registry:
    """How the server reaches registries: over HTTPS with the system's trust store (SSL_CERT_FILE honoured),
    names looked up by the system (the lab host's /etc/hosts) unless ``address`` (OLLAMA_STANDIN_REGISTRY,
    ``host:port``) says where registry.ollama.ai is."""

    user_agent: str
    address: str | None
    context: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    def request(self, method: str, url: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """The response (its body unread); PullError as Go's ``<Method> "<url>": <cause>``."""
        rest = url.partition("://")[2]
        authority, _, path = rest.partition("/")
        host, _, port = authority.partition(":")
        operation = method[0] + method[1:].lower()
        try:
            connection = http.client.HTTPSConnection(authority, context=self.context)
            connection.sock = self._dial(host, int(port or 443))
            connection.request(method, f"/{path}", headers={"User-Agent": self.user_agent, **(headers or {})})
            return connection.getresponse()
        except PullError as error:
            raise PullError(f'{operation} "{url}": {error}') from None
        except (OSError, http.client.HTTPException) as error:
            raise PullError(f'{operation} "{url}": {_read_error(error)}') from None

    def _dial(self, host: str, port: int) -> ssl.SSLSocket:
        target = self.address if host == DEFAULT_HOST and self.address else f"{host}:{port}"
        name, _, number = target.rpartition(":")
        try:
            ip = socket.getaddrinfo(name, int(number), type=socket.SOCK_STREAM)[0][4][0]
        except (socket.gaierror, UnicodeError):
            raise PullError(f"dial tcp: lookup {host}: no such host") from None
        where = f"[{ip}]:{number}" if ":" in ip else f"{ip}:{number}"
        try:
            plain = socket.create_connection((ip, int(number)), timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise PullError(f"dial tcp {where}: i/o timeout") from None
        except OSError as error:
            raise PullError(f"dial tcp {where}: connect: {_errno_text(error)}") from None
        plain.settimeout(READ_TIMEOUT_S)
        try:
            return self.context.wrap_socket(plain, server_hostname=host)
        except ssl.SSLCertVerificationError as error:
            plain.close()
            raise PullError(f"tls: failed to verify certificate: x509: {_x509_reason(error, host)}") from None
        except (ssl.SSLError, OSError) as error:
            plain.close()
            raise PullError(f"remote error: tls: {error}") from None


def _x509_reason(error: ssl.SSLCertVerificationError, host: str) -> str:
    if error.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
        return f"certificate is valid for another name, not {host}"
    if error.verify_code in (10, 9):
        return "certificate has expired or is not yet valid"
    return "certificate signed by unknown authority"


def _read_error(error: BaseException) -> str:
    if isinstance(error, http.client.RemoteDisconnected | http.client.IncompleteRead | EOFError):
        return "EOF"
    if isinstance(error, TimeoutError):
        return "i/o timeout"
    if isinstance(error, OSError):
        return f"read: {_errno_text(error)}"
    return str(error)


def _checked(response: http.client.HTTPResponse) -> http.client.HTTPResponse:
    """``makeRequestWithRetry``'s reading of a status: 404 is ``file does not exist``, others >= 400 ``<code>: <body>``."""
    if response.status == 404:
        response.close()
        raise PullError("file does not exist")
    if response.status >= 400:
        body = response.read().decode(errors="replace")
        raise PullError(f"{response.status}: {body}")
    return response


@dataclass
class Pull:
    store: Store
    registry: Registry
    name: Name  # as the store spells it, when it has it
    emit: Callable[[dict], None]
    cancelled: threading.Event  # the client is gone
    seconds: float  # how long the whole model's bytes take
    noprune: bool = False


def pull_model(pull: Pull) -> None:
    """PullModel: progress through ``pull.emit``; PullError (Canceled when the client went) on failure."""
    existing = pull.store.find(pull.name.shortest)
    unused = {layer.get("digest") for layer in existing.layers} if existing else set()
    pull.emit({"status": "pulling manifest"})
    try:
        response = _checked(pull.registry.request("GET", pull.name.manifest_url, {"Accept": MANIFEST_MEDIA_TYPE}))
        with response:
            data = response.read()
        manifest = json.loads(data)
        layers = [*(manifest.get("layers") or []), *([manifest["config"]] if manifest.get("config") else [])]
    except (PullError, OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as error:
        raise PullError(f"pull model manifest: {error}") from None
    rate = max(1, sum(layer["size"] for layer in layers)) / pull.seconds
    for layer in layers:
        download_blob(pull, layer["digest"], rate)
        unused.discard(layer["digest"])
    pull.emit({"status": "verifying sha256 digest"})
    pull.emit({"status": "writing manifest"})
    pull.store.write_manifest(pull.name, data)
    if unused and not pull.noprune:
        pull.emit({"status": "removing unused layers"})
        pull.store.delete_unused(unused)
    pull.emit({"status": "success"})


_DOWNLOADS: dict[str, BlobDownload] = {}  # blobDownloadManager: the downloads running, by digest
_DOWNLOADS_LOCK = threading.Lock()


def download_blob(pull: Pull, digest: str, rate: float) -> bool:
    """downloadBlob: True for a blob already stored (one event at 100%), else its download (shared) is waited for."""
    try:
        path = pull.store.blob_path(digest)
    except StoreError as error:
        raise PullError(str(error)) from None
    if os.path.isfile(path):
        size = os.stat(path).st_size
        pull.emit({"status": f"pulling {digest[7:19]}", "digest": digest, "total": size, "completed": size})
        return True
    with _DOWNLOADS_LOCK:
        ending = _DOWNLOADS.get(digest)
    if ending is not None and ending.stop.is_set():
        ending.done.wait()  # every pull left it: it is saving its parts, which a new download starts from
    with _DOWNLOADS_LOCK:
        download = _DOWNLOADS.get(digest)
        fresh = download is None
        if fresh:
            download = _DOWNLOADS[digest] = BlobDownload(path, digest, pull.store, pull.registry, pull.name.blob_url(digest))
    if fresh:
        try:
            download.prepare()
        except BaseException:
            with _DOWNLOADS_LOCK:
                del _DOWNLOADS[digest]
            raise
        threading.Thread(target=download.run, args=(rate,), daemon=True).start()
    download.wait(pull.emit, pull.cancelled)
    return False


@dataclass
class Part:
    n: int
    offset: int
    size: int
    completed: int = 0

    def encoded(self) -> bytes:
        """As ``json.NewEncoder(f).Encode(part)`` writes it."""
        return json.dumps({"N": self.n, "Offset": self.offset, "Size": self.size, "Completed": self.completed},
                          separators=(",", ":")).encode() + b"\n"


class BlobDownload:
    """One blob's download (blobDownload): its parts, its progress, the pulls waiting for it."""

    def __init__(self, path: str, digest: str, store: Store, registry: Registry, url: str) -> None:
        self.path, self.digest, self.store, self.registry, self.url = path, digest, store, registry, url
        self.total = 0
        self.completed = 0
        self.parts: list[Part] = []
        self.done = threading.Event()
        self.stop = threading.Event()  # every waiter left, or a part failed (errgroup's context)
        self.error: PullError | None = None
        self.waiters = 0
        self.active = 0  # parts moving now: they share the rate
        self.lock = threading.Lock()

    def prepare(self) -> None:
        """Parts from the ``-partial-<N>`` files of an earlier download (no HEAD), else planned from a HEAD."""
        for part_path in sorted(glob.glob(glob.escape(self.path) + "-partial-*")):
            line = None
            try:
                with open(part_path, "rb") as part_file:
                    line = part_file.readline()
                saved = json.loads(line)
                part = Part(saved["N"], saved["Offset"], saved["Size"], saved["Completed"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise PullError("EOF" if line == b"" else str(error)) from None  # an empty part file: Go's decoder
            self.total += part.size
            self.completed += part.completed
            self.parts.append(part)
        if self.parts:
            return
        with _checked(self.registry.request("HEAD", self.url)) as response:
            self.total = int(response.getheader("Content-Length") or 0)
        size = min(max(self.total // PARTS, PART_MIN), PART_MAX)
        for offset in range(0, self.total, size):
            part = Part(len(self.parts), offset, min(size, self.total - offset))
            self._save(part)
            self.parts.append(part)

    def progress(self) -> dict:
        with self.lock:
            completed = self.completed
        return {"status": f"pulling {self.digest[7:19]}", "digest": self.digest, "total": self.total,
                **({"completed": completed} if completed else {})}

    def wait(self, emit: Callable[[dict], None], cancelled: threading.Event) -> None:
        """Progress every 60 ms until the download ends, and once at its end; Canceled when the client goes."""
        with self.lock:
            self.waiters += 1
        try:
            while not self.done.wait(PROGRESS_S):
                if cancelled.is_set():
                    raise Canceled
                emit(self.progress())
            if self.error:
                raise self.error
            emit(self.progress())
        finally:
            with self.lock:
                self.waiters -= 1
                if self.waiters == 0:
                    self.stop.set()

    def run(self, rate: float) -> None:
        try:
            self._run(rate)
        except PullError as error:
            self.error = error
        except OSError as error:  # the partial file could not be made, renamed or cleaned up
            self.error = PullError(f"{error.filename}: {_errno_text(error)}")
        except Exception as error:  # never a blob taken for whole when something broke
            self.error = PullError(f"{type(error).__name__}: {error}")
        finally:
            with _DOWNLOADS_LOCK:
                _DOWNLOADS.pop(self.digest, None)
            self.done.set()

    def _run(self, rate: float) -> None:
        partial = f"{self.path}-partial"
        others = self.store.unallocated() - _unallocated(partial)  # the room other sparse blobs stand for
        try:
            descriptor = os.open(partial, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as error:
            raise PullError(f"open {partial}: {_errno_text(error)}") from None
        try:
            os.ftruncate(descriptor, self.total)
            url = self._direct_url()
            failures: list[PullError] = []
            limit = threading.Semaphore(PARTS)
            threads = []
            for part in [part for part in self.parts if part.completed < part.size]:
                limit.acquire()
                if self.stop.is_set():
                    limit.release()
                    break
                thread = threading.Thread(target=self._part, args=(part, url, descriptor, rate, others, failures, limit))
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join()
            if failures:
                raise failures[0]
            if self.stop.is_set():
                raise Canceled
        finally:
            os.close(descriptor)
        for index in range(len(self.parts)):
            os.remove(f"{partial}-{index}")
        os.rename(partial, self.path)

    def _direct_url(self) -> str:
        """The GET that finds where the bytes are: retried with a growing backoff (n² × 10 ms, at most 10 s) for
        30 s; the registry stand-in answers it with the bytes themselves (200), so it is the blob's URL."""
        deadline = time.monotonic() + DIRECT_URL_S
        for attempt in range(1, DIRECT_URL_S * 200):  # a try every 5 ms at the most
            try:
                response = _checked(self.registry.request("GET", self.url))
            except PullError:
                backoff = min(attempt * attempt * 0.01, 10) * (random.random() + 0.5)
                if self.stop.wait(min(backoff, max(0, deadline - time.monotonic()))):
                    raise Canceled from None
                if time.monotonic() >= deadline:
                    break
                continue
            response.close()
            if response.status in (302, 307):
                return response.getheader("Location") or self.url
            if response.status == 200:
                return self.url
            raise PullError(f"unexpected status code {response.status}")
        raise PullError("context deadline exceeded")

    def _part(self, part: Part, url: str, descriptor: int, rate: float, others: int, failures: list[PullError],
              limit: threading.Semaphore) -> None:
        """A part's tries: 6, 2^n seconds apart; a Canceled or NoSpace ends them at once."""
        try:
            error: PullError | None = None
            for attempt in range(MAX_RETRIES):
                try:
                    error = self._chunk(part, url, descriptor, rate, others)
                except Exception as broken:  # a part that broke fails the download at once, never passes for done
                    error = PullError(f"{type(broken).__name__}: {broken}")
                    break
                if error is None or isinstance(error, Canceled | NoSpace):
                    break
                if self.stop.wait(2**attempt):
                    error = Canceled()
                    break
            else:
                error = PullError(f"max retries exceeded: {error}")
            if error is not None and not isinstance(error, Canceled):
                with self.lock:
                    failures.append(error)
                self.stop.set()  # errgroup: the first failure stops the other parts
        finally:
            limit.release()

    def _chunk(self, part: Part, url: str, descriptor: int, rate: float, others: int) -> PullError | None:
        """downloadChunk: one ranged GET for the rest of the part, paced at its share of ``rate``."""
        start = part.offset + part.completed
        try:
            response = self.registry.request("GET", url, {"Range": f"bytes={start}-{part.offset + part.size - 1}"})
        except PullError as error:
            return error
        whole = part.size - part.completed < WHOLE_BELOW  # read it all, at once
        moved, read, last, sampled = 0, 0, time.monotonic(), 0.0
        with self.lock:
            self.active += 1
        try:
            while part.completed + moved < part.size:
                if self.stop.is_set():
                    raise Canceled
                time.sleep(TICK_S)
                now = time.monotonic()
                with self.lock:
                    share = rate * (now - last) / max(1, self.active)
                last = now
                left = part.size - part.completed - moved
                step = left if whole else int(min(share, left))
                self._room(step, others)
                if whole or now - sampled >= SAMPLE_S:
                    sampled = now
                    data = response.read(left if whole else SAMPLE_BYTES)
                    if len(data) < (left if whole else 1):
                        raise Resumable("unexpected EOF")
                    os.pwrite(descriptor, data, start + read)
                    read += len(data)
                moved += step
                with self.lock:
                    self.completed += step
        except (Canceled, Resumable, http.client.IncompleteRead) as stopped:
            part.completed += moved
            return self._saved(part) or (stopped if isinstance(stopped, PullError) else Resumable("unexpected EOF"))
        except (PullError, OSError, http.client.HTTPException) as error:
            with self.lock:
                self.completed -= moved  # rollback progress
            if isinstance(error, NoSpace) or getattr(error, "errno", None) == errno.ENOSPC:
                return NoSpace(f"write {self.path}-partial: {os.strerror(errno.ENOSPC).lower()}")
            return error if isinstance(error, PullError) else PullError(_read_error(error))
        finally:
            with self.lock:
                self.active -= 1
            response.close()
        part.completed += moved
        return self._saved(part)

    def _room(self, step: int, others: int) -> None:
        """NoSpace when ``step`` more bytes would not fit: the disk holds this blob so far and the other sparse
        blobs at their declared sizes."""
        disk = os.statvfs(os.path.dirname(self.path))
        with self.lock:
            written = self.completed
        if written + step > disk.f_bavail * disk.f_frsize - others:
            raise NoSpace("no space")

    def _save(self, part: Part) -> None:
        """writePart; a failure as Go words it (``write <path>-partial-<N>: no space left on device``)."""
        name = f"{self.path}-partial-{part.n}"
        try:
            with open(name, "wb") as part_file:
                part_file.write(part.encoded())
        except OSError as error:
            failed = NoSpace if error.errno == errno.ENOSPC else PullError
            raise failed(f"write {name}: {_errno_text(error)}") from None

    def _saved(self, part: Part) -> PullError | None:
        try:
            self._save(part)
        except PullError as error:
            return error
        return None


def _unallocated(path: str) -> int:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return 0
    return max(0, info.st_size - info.st_blocks * 512)
