"""CIFAR-10 binary batches: round trip, the paper's 50k/5k/5k rule on small files, tarball, errors, and
the pooch fetch of the tarball from a local server on 127.0.0.1 (success, corrupt, truncated, 500,
interrupted extraction then retry, tampering detected on load, offline)."""
import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

import deep_sparse.data as data
from deep_sparse.data import cifar10
from deep_sparse.data import download as dl
from deep_sparse.data import integrity


def batches(rng, n_train=4, n_test=6):
    out = {}
    for name in cifar10.TRAIN_FILES + (cifar10.TEST_FILE,):
        n = n_test if name == cifar10.TEST_FILE else n_train
        out[name] = (rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8))
    return out


def write(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in arrays.items():
        (folder / name).write_bytes(cifar10.encode_batch(x, y))


def write_tarball(path, arrays):
    """The binary tarball's layout (``cifar-10-batches-bin/*.bin``); returns its MD5."""
    with tarfile.open(path, "w:gz") as tar:
        for name, (x, y) in arrays.items():
            blob = cifar10.encode_batch(x, y)
            info = tarfile.TarInfo(f"{cifar10.SUBDIR}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_record_layout_round_trip():
    x = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072).astype(np.uint8)
    blob = cifar10.encode_batch(x, [7, 3])
    assert len(blob) == 2 * 3073 and blob[0] == 7 and blob[3073] == 3 and blob[1:4] == bytes([0, 1, 2])
    px, py = cifar10.parse_batch(blob, "b")
    np.testing.assert_array_equal(px, x)
    np.testing.assert_array_equal(py, [7, 3])


def test_splits_on_small_files(tmp_path):
    arrays = batches(np.random.default_rng(1))
    write(tmp_path / "cifar10", arrays)
    splits = data.load_splits("cifar10", data_dir=str(tmp_path), n_valid=2)
    assert {k: v[0].shape for k, v in splits.items()} == {"train": (20, 3072), "valid": (2, 3072), "test": (4, 3072)}
    tx, ty = arrays[cifar10.TEST_FILE]
    np.testing.assert_array_equal(splits["valid"][0], tx[:2] / np.float32(255))  # valid = first part of test_batch
    np.testing.assert_array_equal(splits["test"][1], ty[2:])  # test = the rest
    np.testing.assert_array_equal(splits["train"][1][4:8], arrays["data_batch_2.bin"][1])
    for x, y in splits.values():
        assert x.dtype == np.float32 and y.dtype == np.int32 and x.min() >= 0 and x.max() <= 1
    assert data.num_classes("cifar10") == 10
    assert data.load("cifar10", "valid", data_dir=str(tmp_path), n_valid=5)[0].shape == (5, 3072)


def test_tarball_and_subfolder_layouts(tmp_path):
    arrays = batches(np.random.default_rng(2))
    write(tmp_path / "a" / "cifar10" / cifar10.SUBDIR, arrays)
    from_sub = data.load_splits("cifar10", data_dir=str(tmp_path / "a"), n_valid=3)
    folder = tmp_path / "b" / "cifar10"
    folder.mkdir(parents=True)
    digest = write_tarball(folder / cifar10.TARBALL, arrays)
    with pytest.raises(dl.ChecksumError, match=r"cifar-10-binary.tar.gz: checksum mismatch, expected MD5 "
                                               r"c32a1d4ab5d03f1284b67883e8d87530, received MD5"):
        data.load_splits("cifar10", data_dir=str(tmp_path / "b"), n_valid=3)  # not the published archive
    own = {cifar10.TARBALL: f"md5:{digest}"}
    from_tar = data.load_splits("cifar10", data_dir=str(tmp_path / "b"), n_valid=3, hashes=own)
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(from_sub[split][0], from_tar[split][0])
    assert sorted(p.name for p in folder.iterdir()) == [cifar10.TARBALL]  # nothing extracted
    assert data.fetch("cifar10", data_dir=str(tmp_path / "b"), n_valid=3, hashes=own) == str(folder)


def test_errors_name_the_file(tmp_path):
    arrays = batches(np.random.default_rng(3))
    write(tmp_path / "cifar10", arrays)
    path = tmp_path / "cifar10" / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"data_batch_3.bin: expected a whole number of 3073-byte records"):
        data.load_splits("cifar10", data_dir=str(tmp_path), n_valid=2)
    x, y = arrays["data_batch_3.bin"]
    y = y.copy()
    y[1] = 10
    path.write_bytes(cifar10.encode_batch(x, y))
    with pytest.raises(ValueError, match=r"data_batch_3.bin: record 1 has label 10, expected 0..9"):
        data.load_splits("cifar10", data_dir=str(tmp_path), n_valid=2)
    with pytest.raises(FileNotFoundError, match=r"data directory .*empty/cifar10 does not exist and downloading is "
                                                r"off \(download=False\)"):
        data.load_splits("cifar10", data_dir=str(tmp_path / "empty"), download=False)
    (tmp_path / "empty2" / "cifar10").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin"):
        data.fetch("cifar10", data_dir=str(tmp_path / "empty2"), download=False)


def listing(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, dirs, files in os.walk(folder) for f in dirs + files)


@pytest.fixture
def served(server):
    """A small CIFAR-10 tarball on the local server: (base URL, server folder, arrays, hash override)."""
    base, root = server
    arrays = batches(np.random.default_rng(4))
    digest = write_tarball(root / cifar10.TARBALL, arrays)
    return base, root, arrays, {cifar10.TARBALL: f"md5:{digest}"}


def test_fetch_downloads_extracts_records_and_loads(tmp_path, served, http_control):
    base, _, arrays, own = served
    folder = data.fetch("cifar10", data_dir=str(tmp_path), mirrors=[base], hashes=own, retries=0, n_valid=2)
    assert folder == str(tmp_path / "cifar10")
    members = [f"{cifar10.SUBDIR}/{n}" for n in arrays]
    assert listing(folder) == sorted([integrity.MANIFEST, cifar10.TARBALL, cifar10.SUBDIR, *members])
    assert sorted(integrity.read_manifest(folder)) == sorted(members)
    splits = data.load_splits("cifar10", data_dir=str(tmp_path), n_valid=2, mirrors=["http://127.0.0.1:9/"],
                              hashes=own)  # everything is there: no download, no mirror needed
    np.testing.assert_array_equal(splits["test"][1], arrays[cifar10.TEST_FILE][1][2:])
    assert http_control.requests == ["/" + cifar10.TARBALL]
    report = data.info("cifar10", data_dir=str(tmp_path), hashes=own)
    states = [f["state"] for f in report["files"]]
    assert states == ["verified (SHA-256 in SHA256SUMS)"] * 6 + ["verified (registry hash)"]
    assert report["license"].startswith("no license stated") and report["download_bytes"] == 170052171
    # a batch changed after the fetch is caught on the next load
    path = os.path.join(folder, cifar10.SUBDIR, "data_batch_2.bin")
    blob = bytearray(open(path, "rb").read())
    blob[5] ^= 1
    open(path, "wb").write(bytes(blob))
    with pytest.raises(dl.ChecksumError, match=r"data_batch_2.bin: checksum mismatch, expected SHA256"):
        data.load_splits("cifar10", data_dir=str(tmp_path), n_valid=2, download=False)
    assert data.load_splits("cifar10", data_dir=str(tmp_path), n_valid=2, verify=False)["train"][0].shape == (20, 3072)


def test_fetch_refuses_corrupt_truncated_and_failing_servers(tmp_path, served, http_control):
    base, _, _, own = served
    target = tmp_path / "cifar10"
    target.mkdir()
    with pytest.raises(dl.ChecksumError) as error:  # the published MD5: this small archive is not it
        data.fetch("cifar10", data_dir=str(tmp_path), mirrors=[base], retries=0)
    assert str(error.value).startswith(f"cifar-10-binary.tar.gz from {base}cifar-10-binary.tar.gz: checksum mismatch, "
                                       "expected MD5 c32a1d4ab5d03f1284b67883e8d87530, received MD5 ")
    http_control.faults["/" + cifar10.TARBALL] = ("truncate", 3000)
    with pytest.raises(dl.FetchError, match="cifar-10-binary.tar.gz"):
        data.fetch("cifar10", data_dir=str(tmp_path), mirrors=[base], hashes=own, retries=0)
    http_control.faults["/" + cifar10.TARBALL] = ("status", 500)
    with pytest.raises(dl.FetchError, match=r"cifar-10-binary.tar.gz: HTTPError: 500"):
        data.fetch("cifar10", data_dir=str(tmp_path), mirrors=[base], hashes=own, retries=0)
    assert listing(target) == []


def test_interrupted_extraction_leaves_nothing_then_retry(tmp_path, served, monkeypatch):
    base, _, _, own = served

    def interrupted(directory, digests):
        raise KeyboardInterrupt

    monkeypatch.setattr(integrity, "record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.fetch("cifar10", data_dir=str(tmp_path), mirrors=[base], hashes=own, retries=0, n_valid=2)
    assert not (tmp_path / "cifar10").exists()
    monkeypatch.undo()
    data.fetch("cifar10", data_dir=str(tmp_path), mirrors=[base], hashes=own, retries=0, n_valid=2)
    assert len(integrity.read_manifest(str(tmp_path / "cifar10"))) == 6


def test_mirror_environment_variable_and_offline(tmp_path, served, http_control, monkeypatch):
    base, _, _, own = served
    monkeypatch.setenv("DEEP_SPARSE_CIFAR10_MIRRORS", f"{base}nowhere/,{base}")
    monkeypatch.setenv("DEEP_SPARSE_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"does not exist and downloading is off \(DEEP_SPARSE_OFFLINE=1\)"):
        data.load_splits("cifar10", data_dir=str(tmp_path), hashes=own)
    assert http_control.requests == []
    monkeypatch.delenv("DEEP_SPARSE_OFFLINE")
    x, _ = data.load("cifar10", "valid", data_dir=str(tmp_path), hashes=own, retries=0, n_valid=2)
    assert x.shape == (2, 3072)
    assert http_control.requests == ["/nowhere/" + cifar10.TARBALL, "/" + cifar10.TARBALL]
