"""Deterministic folders of media items: ``storeadvise sample images|video|audio|documents``.

Each item is a real encoded file a user's folder would hold: JPEG and PNG images encoded by Pillow,
short MPEG-4 clips encoded by PyAV (its wheels ship FFmpeg's codecs; docs/decisions.md, 'Video samples:
PyAV, not imageio-ffmpeg'), WAV files written by the standard library's ``wave``, and UTF-8 text
documents. Every item has its own random stream seeded from (seed,
kind, item number), so the folder depends only on (kind, items, item size, seed). Item sizes spread
around the requested size (a log-normal spread, as real photographs and documents vary) and the
encoder's parameters are chosen so that each file lands near its target: the image's area is adjusted
once from a first encoding (JPEG and PNG of noisy content grow with the pixel count), the clip's bit
rate is the target over its duration, the WAV's frame count is exact and the document's length is.

Every item has a label (``labels.csv`` beside them: file name, label or language), which the folder
loader joins; the profile of the folder as written is saved beside them (``storeadvise-sample.json``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import shutil
import tempfile
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.errors import UsageError
from storeadvise.modalities import MEDIA_SAMPLE_KINDS

if TYPE_CHECKING:
    import numpy as np

PROFILE_FILE = "storeadvise-sample.json"
"""The generated folder's profile and the settings that made it, written beside the items."""
LABELS_FILE = "labels.csv"
SIZE_SPREAD = 0.25
"""Sigma of the log-normal spread of item sizes around the requested size (documents: twice that)."""
PNG_SHARE = 10
"""Every this-many-th image is a PNG, the others JPEG: a photo folder holds a few lossless images."""
LABELS = ("cat", "dog", "bird", "car", "tree", "boat", "flower", "house")
_SALT = {"images": 11, "video": 12, "audio": 13, "documents": 14}
VIDEO_SECONDS = 1.0
VIDEO_FPS = 12
AUDIO_RATE = 16_000
ITEMS_PER_WORKER = 50
"""Fewer items than this per encoding process are written by one: starting a process costs more."""
ENCODE_CHUNK = 8
"""Items handed to an encoding process at a time: small, so that Ctrl-C waits for a few items only."""


def _rng(seed: int, kind: str, index: int) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(np.random.SeedSequence([seed, _SALT[kind], index]))


def _target(rng: np.random.Generator, item_size: int, spread: float = SIZE_SPREAD) -> int:
    return max(256, int(item_size * math.exp(rng.normal(0.0, spread) - spread**2 / 2)))


def _picture(rng: np.random.Generator, width: int, height: int) -> Any:
    """An RGB picture: a colour gradient, a few filled shapes and pixel noise, so that JPEG's size
    depends on the area as a photograph's does."""
    import numpy as np
    from PIL import Image, ImageDraw

    # float32 and broadcast rows and columns: about 30 bytes a pixel at the peak, so that a 20 MB
    # photograph (tens of megapixels) is made in about 1 GB, not 3
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    base = rng.integers(0, 256, 3)
    pixels = np.empty((height, width, 3), np.float32)
    for c in range(3):
        pixels[..., c] = base[c] + 96 * np.sin(x / (7 + 13 * c) + y / 19)
    pixels += rng.standard_normal((height, width, 3), dtype=np.float32) * 28
    np.clip(pixels, 0, 255, out=pixels)
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x0, y0, x0 + int(rng.integers(4, width // 2 + 5)), y0 + int(rng.integers(4, height // 2 + 5)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image


def _encode(image: Any, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 85} if fmt == "JPEG" else {"compress_level": 6}))
    return out.getvalue()


def _image(rng: np.random.Generator, target: int, index: int) -> tuple[str, bytes, dict[str, Any]]:
    fmt, ext, per_pixel = ("PNG", "png", 2.4) if index % PNG_SHARE == PNG_SHARE - 1 else ("JPEG", "jpg", 0.5)
    side = max(16, int(math.sqrt(target / per_pixel)))
    state = rng.bit_generator.state
    # A first encoding at a quarter of the estimated area, then the area that its size says gives the
    # target: both encoders' output grows with the area of noisy content.
    width, height = max(8, side * 2 // 3), max(8, side * 3 // 8)
    data = _encode(_picture(rng, width, height), fmt)
    scale = math.sqrt(target / len(data))
    width, height = max(16, int(width * scale)), max(16, int(height * scale))
    rng.bit_generator.state = state
    data = _encode(_picture(rng, width, height), fmt)
    label = LABELS[int(rng.integers(0, len(LABELS)))]
    return ext, data, {"label": label, "width": width, "height": height}


def _video(rng: np.random.Generator, target: int, index: int) -> tuple[str, bytes, dict[str, Any]]:
    import numpy as np

    # Frames of 160 x 120 for a 100 kB clip, fewer pixels for smaller ones: the codec has a floor per pixel.
    scale = min(2.0, max(0.2, math.sqrt(target / 100_000)))
    width, height = max(32, int(160 * scale) // 16 * 16), max(32, int(120 * scale) // 16 * 16)
    background = rng.integers(0, 256, (height, width, 3))
    # A panning picture with fresh noise in every frame, so that motion prediction cannot take it all.
    frames = [np.clip(np.roll(background, 4 * i, axis=1) + rng.normal(0, 24, background.shape), 0, 255)
              .astype("uint8") for i in range(int(VIDEO_SECONDS * VIDEO_FPS))]
    bit_rate = max(16_000, int(target * 8 / VIDEO_SECONDS))
    data = _clip(frames, bit_rate)
    # Once more at the bit rate that first size says gives the target: the codec misses it by a share.
    data = _clip(frames, max(16_000, int(bit_rate * target / len(data))))
    label = LABELS[int(rng.integers(0, len(LABELS)))]
    return "mp4", data, {"label": label, "frames": int(VIDEO_SECONDS * VIDEO_FPS)}


def _clip(frames: list[np.ndarray], bit_rate: int) -> bytes:
    """An MPEG-4 clip of ``frames`` (RGB arrays), encoded at ``bit_rate``."""
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=VIDEO_FPS)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.bit_rate = bit_rate
        for picture in frames:
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _audio(rng: np.random.Generator, target: int, index: int) -> tuple[str, bytes, dict[str, Any]]:
    import numpy as np

    frames = max(1, (target - 44) // 2)  # 16-bit mono after the 44-byte header
    t = np.arange(frames) / AUDIO_RATE
    tone = 6_000 * np.sin(2 * np.pi * float(rng.uniform(110, 880)) * t) + rng.normal(0, 900, frames)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(AUDIO_RATE)
        wav.writeframes(np.clip(tone, -32768, 32767).astype("<i2").tobytes())
    return "wav", out.getvalue(), {"label": LABELS[int(rng.integers(0, len(LABELS)))]}


def _document(rng: np.random.Generator, target: int, index: int) -> tuple[str, bytes, dict[str, Any]]:
    from storeadvise.bench.samples import LANG_WEIGHTS, LANGS, VOCAB

    lang = LANGS[int(rng.choice(len(LANGS), p=LANG_WEIGHTS))]
    words = VOCAB[lang].split()
    text: list[str] = []
    size = 0
    while size < target:
        sentence = " ".join(words[int(i)] for i in rng.integers(0, len(words), int(rng.integers(5, 18))))
        line = sentence[:1].upper() + sentence[1:] + (".\n\n" if rng.random() < 0.2 else ". ")
        text.append(line)
        size += len(line.encode())
    return "txt", "".join(text).encode()[:target].decode(errors="ignore").encode(), {"language": lang}


ENCODERS: dict[str, Callable[[Any, int, int], tuple[str, bytes, dict[str, Any]]]] = {
    "images": _image, "video": _video, "audio": _audio, "documents": _document,
}
"""One encoder per ``modalities.MEDIA_SAMPLE_KINDS`` entry: (random stream, target bytes, item number)
-> (extension, encoded bytes, label columns)."""


def check_media_sample(kind: str, items: Any, item_size: Any, seed: Any) -> None:
    """A ``UsageError`` for arguments a media sample cannot be made from."""
    if kind not in MEDIA_SAMPLE_KINDS:
        raise UsageError(f"unknown media sample {kind!r}; choose from {', '.join(MEDIA_SAMPLE_KINDS)}")
    for option, value, low in (("--items", items, 1), ("--item-size", item_size, 64), ("--seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UsageError(f"{option} must be an integer of at least {low}, not {value!r}")


def write_media_sample(kind: str, items: int, item_size: int, folder: str | Path, seed: int = 0,
                       *, force: bool = False, workers: int | None = None) -> dict[str, Any]:
    """Write ``items`` generated items of ``kind`` (``images``, ``video``, ``audio``, ``documents``) of
    about ``item_size`` bytes each into the new folder ``folder`` and return its profile.

    The items are written into a temporary folder beside it that is renamed at the end, so a failure
    leaves nothing behind. An existing folder is refused unless it is empty, or ``force`` is given and
    it is a folder this function wrote (it holds ``PROFILE_FILE``): a user's folder is never replaced.
    ``workers``: processes that encode the items (default: one per core; the folder is the same)."""
    from storeadvise.bench.formats.media import folder_profile

    check_media_sample(kind, items, item_size, seed)
    target = Path(folder)
    replace = _check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        labels = _write_items(kind, items, item_size, seed, work, workers)
        if labels:
            _write_labels(labels, work / LABELS_FILE)
        profile = folder_profile(work)
        record = {"kind": kind, "items": items, "item_size": item_size, "seed": seed, "profile": profile}
        (work / PROFILE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        if replace:
            shutil.rmtree(target)
        elif target.exists():
            target.rmdir()
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return profile


@contextlib.contextmanager
def sample_folder(kind: str | None, items: int, item_size: int, seed: int = 0,
                  scratch: str | Path | None = None) -> Iterator[Path | None]:
    """A generated folder of ``kind`` items in a temporary folder (under ``scratch`` when given), removed
    on exit; None when ``kind`` is not a media sample (a table's sample is generated as it streams)."""
    if kind not in MEDIA_SAMPLE_KINDS:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="storeadvise-sample-", dir=scratch) as folder:
        target = Path(folder) / f"sample-{kind}"
        write_media_sample(kind, items, item_size, target, seed)
        yield target


def _check_target(target: Path, force: bool) -> bool:
    """Whether ``target`` is an earlier sample to replace; a UsageError for a folder that must not be."""
    if not target.exists():
        return False
    if not target.is_dir():
        raise UsageError(f"{target}: exists and is not a folder; give a new folder for the sample")
    if not any(target.iterdir()):
        return False
    if force and (target / PROFILE_FILE).is_file():
        return True
    why = "pass --force to replace it" if (target / PROFILE_FILE).is_file() else "give a new or empty folder"
    raise UsageError(f"{target}: folder is not empty; {why}")


def _write_items(kind: str, items: int, item_size: int, seed: int, folder: Path,
                 workers: int | None) -> list[dict[str, Any]]:
    """Write the items (a hundred per sub-folder, as large collections are split) and return their labels.

    Every item depends only on its own number, so ``workers`` processes (one per core by default, for
    at least ``ITEMS_PER_WORKER`` items each) encode them in parallel and the folder is the same as one
    process writes; encoding is the cost (20,000 100 kB images take minutes per core)."""
    job = functools.partial(_write_item, kind, item_size, seed, folder)
    count = min(workers or os.cpu_count() or 1, max(1, items // ITEMS_PER_WORKER))
    if count < 2:
        return [job(index) for index in range(items)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: this process may run threads (Arrow's, an embedded server's watcher) that fork would copy
    # half-way; workers ignore Ctrl-C, which stops this process, and it cancels the items not started.
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts)
    try:
        return list(pool.map(job, range(items), chunksize=ENCODE_CHUNK))
    finally:
        pool.shutdown(cancel_futures=True)


def _ignore_interrupts() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _write_item(kind: str, item_size: int, seed: int, folder: Path, index: int) -> dict[str, Any]:
    """Encode and write item ``index``; its label."""
    rng = _rng(seed, kind, index)
    spread = SIZE_SPREAD * 2 if kind == "documents" else SIZE_SPREAD
    ext, data, label = ENCODERS[kind](rng, _target(rng, item_size, spread), index)
    name = f"{index // 100:04d}/{kind}-{index:06d}.{ext}"
    (folder / name).parent.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return {"file": name, **label}


def _write_labels(labels: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as csv

    csv.write_csv(pa.Table.from_pylist(labels), path)
