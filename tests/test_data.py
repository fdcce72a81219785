"""The data ``zoo train`` reads: torchvision's download through a local server, and
``folder:`` trees checked before anything trains (bad files named, FIFOs and link loops
skipped, the size, channels and augmentation decided from the images and said)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import struct
import threading
import zlib
from pathlib import Path

import pytest
import torch

from zoo.errors import DataError
from zoo.train.data import load_data

torchvision = pytest.importorskip("torchvision")
PIL = pytest.importorskip("PIL")


# -- download ---------------------------------------------------------------------------------------


def _idx(data: torch.Tensor) -> bytes:
    code = {1: 0x0801, 3: 0x0803}[data.dim()]
    return struct.pack(">I", code) + b"".join(struct.pack(">I", d) for d in data.shape) + data.numpy().tobytes()


@pytest.fixture
def mnist_site(tmp_path, monkeypatch):
    """A tiny MNIST (30 training, 10 validation images) as .gz files served by an HTTP
    server on 127.0.0.1; torchvision's MNIST class is pointed at it (its ``mirrors``
    and ``resources``: the URL and the checksums). Yields the list of paths asked for."""
    site = tmp_path / "site"
    site.mkdir()
    generator = torch.Generator().manual_seed(0)
    resources = []
    for prefix, n in (("train", 30), ("t10k", 10)):
        for kind, data in (("images-idx3", torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8,
                                                          generator=generator)),
                           ("labels-idx1", torch.arange(n, dtype=torch.uint8) % 10)):
            name = f"{prefix}-{kind}-ubyte.gz"
            (site / name).write_bytes(gzip.compress(_idx(data)))
            resources.append((name, hashlib.md5((site / name).read_bytes()).hexdigest()))
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site), **kwargs)

        def do_GET(self):
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", resources)
    yield asked
    server.shutdown()
    thread.join()


def test_download_fetches_with_torchvision_and_its_checksums(mnist_site, tmp_path):
    with pytest.raises(DataError) as missing:
        load_data("mnist", tmp_path / "data")
    assert str(missing.value).endswith("or add --download") and mnist_site == []
    data = load_data("mnist", tmp_path / "data", download=True)
    assert (data.shape, len(data.train), len(data.val)) == ((1, 28, 28), 30, 10)
    assert set(mnist_site) == {f"/{name}" for name, _ in torchvision.datasets.MNIST.resources}
    fetched = len(mnist_site)
    assert (tmp_path / "data" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    load_data("mnist", tmp_path / "data", download=True)  # the files are there: nothing fetched again
    assert len(mnist_site) == fetched


def test_zoo_train_download_keeps_stdout_for_json(mnist_site, tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    code = main(["train", "cnf8 m", "--data", "mnist", "--root", "data", "--download", "--epochs", "1",
                 "--batch", "10", "--out", "o", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)[0]["examples"] == 30  # torchvision's "Downloading ..." went to stderr
    assert "mnist: downloading into data (torchvision's download, its checksums checked)" in err


def test_a_damaged_archive_never_starts_a_download(mnist_site, tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b damaged")
    with pytest.raises(DataError) as damaged:
        load_data("mnist", tmp_path / "data")
    assert f"mnist: {raw / 'train-images-idx3-ubyte.gz'} is damaged (its MD5 is not " in str(damaged.value)
    assert "nothing was downloaded" in str(damaged.value)
    assert mnist_site == []  # no connection made


def test_download_of_a_data_set_without_files_is_refused():
    with pytest.raises(DataError, match="--download: digits has nothing to download; only cifar10, cifar100"):
        load_data("digits", download=True)


# -- folder: checked before training ------------------------------------------------------------------


def _tree(root: Path, mode: str = "RGB", size: tuple[int, int] = (8, 8), per_class: int = 4) -> Path:
    from PIL import Image

    for part in ("train", "val"):
        for k in range(2):
            folder = root / part / f"c{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.new(mode, size, 40 + 150 * k + i).save(folder / f"{i}.png")
    return root


def _bomb_png(path: Path, side: int = 20_000) -> None:
    """A PNG whose header claims side x side pixels (PIL refuses it at open: 400M pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))
                     + chunk(b"IEND", b""))


def test_bad_files_are_named_with_their_path_before_training(tmp_path):
    root = _tree(tmp_path / "imgs")
    good = (root / "train" / "c0" / "0.png").read_bytes()
    (root / "train" / "c0" / "empty.png").write_bytes(b"")
    (root / "train" / "c1" / "notes.png").write_text("not an image")
    (root / "val" / "c0" / "cut.png").write_bytes(good[:20])
    _bomb_png(root / "val" / "c1" / "bomb.png")
    with pytest.raises(DataError) as bad:
        load_data(f"folder:{root}")
    message = str(bad.value)
    assert message.startswith(f"folder:{root}: 4 of the files cannot be read as images:\n")
    assert f"  {root}/train/c0/empty.png: an empty file (0 bytes)\n" in message
    assert f"  {root}/train/c1/notes.png: not an image PIL can read (damaged, or another kind of file)\n" in message
    assert f"  {root}/val/c0/cut.png: " in message
    assert (f"  {root}/val/c1/bomb.png: too large to decode safely (a decompression bomb?): Image size "
            "(400000000 pixels) exceeds limit of") in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifos_and_link_loops_are_skipped_and_said(tmp_path):
    root = _tree(tmp_path / "imgs")
    os.mkfifo(root / "train" / "c0" / "x.png")  # reading it would wait forever
    (root / "train" / "c1" / "loop").symlink_to(root / "train" / "c1")
    data = load_data(f"folder:{root}")
    assert (len(data.train), len(data.val)) == (8, 8)  # not 8 x the depth of the loop
    skipped = next(note for note in data.notes if "skipped" in note)
    assert skipped.startswith(f"folder:imgs: skipped 2: {root}/train/c0/x.png (not a regular file")
    assert f"{root}/train/c1/loop (a folder already read (a link loop))" in skipped


def test_gray_digits_keep_their_size_one_channel_and_no_flips(tmp_path):
    root = _tree(tmp_path / "digits", mode="L", size=(8, 8))
    data = load_data(f"folder:{root}")
    assert (data.shape, data.default_aug, len(data.mean)) == ((1, 8, 8), "none", 1)
    assert data.notes == ["folder:digits: every image is 8x8: size 8 (--size to change)",
                          "folder:digits: every image is gray: 1 channel",
                          "folder:digits: augmentation none for gray images (--aug to choose)"]
    x, y = next(data.train.batches(range(8), 8, workers=0))
    assert (x.shape, x.dtype, y.tolist()) == ((8, 1, 8, 8), torch.uint8, [0, 0, 0, 0, 1, 1, 1, 1])
    assert x[0, 0, 0, 0].item() == 40 and x[4, 0, 0, 0].item() == 190  # the pixels as written


def test_mixed_sizes_and_modes_are_resized_and_made_rgb_and_said(tmp_path):
    from PIL import Image

    root = _tree(tmp_path / "mixed", mode="RGB", size=(40, 48))
    Image.new("L", (64, 64), 90).save(root / "train" / "c0" / "gray.png")
    data = load_data(f"folder:{root}")
    assert (data.shape, data.default_aug) == ((3, 32, 32), "document")
    assert data.notes == ["folder:mixed: images from 40x48 to 64x64: resized to 32x32 (--size to change)",
                          "folder:mixed: 1 of 17 images are gray: converted to RGB, 3 channels",
                          "folder:mixed: augmentation document for RGB images of 32 px or more (--aug to choose)"]
    assert load_data(f"folder:{root}", size=16).shape == (3, 16, 16)


@pytest.mark.slow  # ~5 s on an idle core
@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_damaged_after_its_header_is_named_in_one_line_even_from_a_worker(tmp_path, workers):
    root = _tree(tmp_path / "imgs", size=(32, 32))
    good = (root / "train" / "c1" / "0.png").read_bytes()
    (root / "train" / "c1" / "0.png").write_bytes(good[:60])  # the header reads; the pixels do not
    data = load_data(f"folder:{root}")
    with pytest.raises(DataError) as bad:
        list(data.train.batches(range(8), 4, workers=workers))
    assert str(bad.value).startswith(f"{root}/train/c1/0.png: cannot be decoded (")
    assert str(bad.value).endswith("); remove it or put a good copy there")
    assert "Traceback" not in str(bad.value)
