"""NORB binary-matrix format, area-average subsampling, [-1, 1] scaling, small and jittered-cluttered splits,
and the pooch fetch of both variants from a local server on 127.0.0.1 (published hashes for small NORB,
SHA-256 recorded on first fetch for jittered-cluttered NORB, resume after a failure)."""
import gzip
import hashlib
import os
import struct

import numpy as np
import pytest

import deep_sparse.data as data
from deep_sparse.data import download as dl
from deep_sparse.data import integrity, norb
from sweeps import common, train


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int16, np.float32, np.float64])
def test_matrix_round_trip(tmp_path, dtype):
    array = np.arange(2 * 2 * 3 * 4).reshape(2, 2, 3, 4).astype(dtype)
    path = str(tmp_path / "m.mat")
    norb.write_matrix(path, array)
    for mmap in (True, False):
        back = norb.read_matrix(path, mmap=mmap)
        assert back.dtype == np.dtype(dtype) and back.shape == array.shape
        np.testing.assert_array_equal(back, array)


def test_header_layout_and_small_ndim_padding(tmp_path):
    blob = norb.encode_matrix(np.array([3, 1, 4], np.int32))
    magic, ndim, d0, d1, d2 = struct.unpack("<iIiii", blob[:20])
    assert (magic, ndim, (d0, d1, d2)) == (0x1E3D4C54, 1, (3, 1, 1))
    assert len(blob) == 20 + 12
    blob8 = norb.encode_matrix(np.zeros((2, 2, 2, 2), np.uint8))
    assert struct.unpack("<i", blob8[:4])[0] == 0x1E3D4C55 and len(blob8) == 8 + 16 + 16
    (tmp_path / "c.mat.gz").write_bytes(gzip.compress(blob))
    np.testing.assert_array_equal(norb.read_matrix(str(tmp_path / "c.mat.gz"), ndim=1), [3, 1, 4])


def test_bad_files(tmp_path):
    path = tmp_path / "x-dat.mat"
    blob = norb.encode_matrix(np.zeros((2, 2, 4, 4), np.uint8))
    path.write_bytes(blob[:-3])
    with pytest.raises(ValueError, match=r"x-dat.mat: truncated NORB file, expected 88 bytes .* got 85"):
        norb.read_matrix(str(path))
    path.write_bytes(struct.pack("<i", 0x1E3D4C99) + blob[4:])
    with pytest.raises(ValueError, match=r"x-dat.mat: bad NORB magic number 0x1E3D4C99, expected one of"):
        norb.read_matrix(str(path))
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=r"expected a 1-dimensional NORB matrix, the header says \(2, 2, 4, 4\)"):
        norb.read_matrix(str(path), ndim=1)
    path.write_bytes(blob[:10])
    with pytest.raises(ValueError, match="truncated NORB header"):
        norb.read_matrix(str(path))


def test_area_resize():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 2, 96, 96)).astype(np.float32)
    block = images.reshape(3, 2, 32, 3, 32, 3).mean(axis=(3, 5))  # 96 -> 32 is an exact 3x3 block mean
    np.testing.assert_allclose(norb.area_resize(images), block, rtol=1e-5, atol=1e-3)
    big = rng.uniform(0, 255, (2, 2, 108, 108)).astype(np.float32)
    small = norb.area_resize(big)
    assert small.shape == (2, 2, 32, 32)
    np.testing.assert_allclose(small.mean(axis=(-1, -2)), big.mean(axis=(-1, -2)), rtol=1e-4)  # area preserved
    np.testing.assert_allclose(norb.area_resize(np.full((1, 108, 108), 7.0)), 7.0, rtol=1e-5)
    # a bright left third: output column 10 covers [33.75, 37.125), 2.25 of it bright
    step = np.zeros((108, 108), np.float32)
    step[:, :36] = 1.0
    row = norb.area_resize(step)
    np.testing.assert_allclose(row[:, :10], 1.0, rtol=1e-6)
    np.testing.assert_allclose(row[:, 10], 2.25 / 3.375, rtol=1e-5)
    np.testing.assert_allclose(row[:, 11:], 0.0, atol=1e-6)


def test_preprocess_scales_to_minus_one_one():
    pairs = np.zeros((2, 2, 96, 96), np.uint8)
    pairs[1] = 255
    x = norb.preprocess(pairs)
    assert x.shape == (2, 2048) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], -1.0)
    np.testing.assert_allclose(x[1], 1.0)
    with pytest.raises(ValueError, match=r"expected stereo pairs of shape \(n, 2, H, W\)"):
        norb.preprocess(np.zeros((2, 3, 8, 8), np.uint8))


def write_pair(folder, dat, cat, n, side, rng, n_classes):
    norb.write_matrix(str(folder / dat), rng.integers(0, 256, (n, 2, side, side), dtype=np.uint8))
    norb.write_matrix(str(folder / cat), rng.integers(0, n_classes, n).astype(np.int32))


def test_smallnorb_splits(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "smallnorb"
    folder.mkdir()
    names = norb.file_names("smallnorb")
    write_pair(folder, *names["training"][0], 10, 96, rng, 5)
    write_pair(folder, *names["test"][0], 3, 96, rng, 5)
    splits = data.load_splits("smallnorb", data_dir=str(tmp_path))
    assert {k: v[0].shape for k, v in splits.items()} == {"train": (8, 2048), "valid": (2, 2048), "test": (3, 2048)}
    labels = norb.read_matrix(str(folder / names["training"][0][1]))
    np.testing.assert_array_equal(splits["valid"][1], labels[-2:])  # valid = last fifth of training
    images = norb.read_matrix(str(folder / names["training"][0][0]))
    # float32 sums reassociate with the batch size: equal to a few ulps
    np.testing.assert_allclose(splits["train"][0][0], norb.preprocess(images[:1])[0], rtol=1e-6, atol=1e-6)
    assert data.num_classes("smallnorb") == 5 and data.num_classes("norb") == 6


def test_jittered_norb_splits_and_errors(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "norb"
    folder.mkdir()
    names = norb.file_names("norb")
    for pairs in names.values():
        for dat, cat in pairs:
            write_pair(folder, dat, cat, 2, 108, rng, 6)
    splits = data.load_splits("norb", data_dir=str(tmp_path))
    assert {k: v[0].shape for k, v in splits.items()} == {"train": (16, 2048), "valid": (4, 2048), "test": (4, 2048)}
    for x, y in splits.values():
        assert x.min() >= -1 and x.max() <= 1 and y.dtype == np.int32
    dat, cat = names["test"][1]
    norb.write_matrix(str(folder / cat), np.zeros(3, np.int32))
    with pytest.raises(ValueError, match=r"testing-02-cat.mat: has 3 labels but .*testing-02-dat.mat has 2 images"):
        data.load_splits("norb", data_dir=str(tmp_path))
    norb.write_matrix(str(folder / cat), np.array([0, 6], np.int32))
    with pytest.raises(ValueError, match=r"testing-02-cat.mat: expected categories 0..5, found 0..6"):
        data.load_splits("norb", data_dir=str(tmp_path))
    norb.write_matrix(str(folder / dat), np.zeros((2, 2, 96, 96), np.uint8))
    with pytest.raises(ValueError, match=r"testing-02-dat.mat: expected uint8 stereo pairs of shape \(n, 2, 108, 108\)"):
        data.load_splits("norb", data_dir=str(tmp_path))
    (folder / dat).unlink()
    with pytest.raises(FileNotFoundError, match="testing-02-dat.mat"):
        data.load_splits("norb", data_dir=str(tmp_path), download=False)
    report = data.info("norb", data_dir=str(tmp_path))
    assert report["missing"] == [dat] and len(report["files"]) == 23


def test_official_file_names():
    names = norb.file_names("smallnorb")
    assert names["test"][0][0] == "smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat"
    assert names["training"][0][1] == "smallnorb-5x46789x9x18x6x2x96x96-training-cat.mat"
    assert norb.file_names("norb")["test"][1][0] == "norb-5x01235x9x18x6x2x108x108-testing-02-dat.mat"
    with pytest.raises(ValueError, match="unknown NORB variant 'tiny'"):
        norb.file_names("tiny")


def serve(root, variant, n, rng):
    """Gzipped NORB files of ``variant`` (``n`` examples each) in ``root``; returns their SHA-256s."""
    side, classes = norb.SIDE[variant], norb.NUM_CLASSES[variant]
    digests = {}
    for pairs in norb.file_names(variant).values():
        for dat, cat in pairs:
            for name, array in ((dat, rng.integers(0, 256, (n, 2, side, side), dtype=np.uint8)),
                                (cat, rng.integers(0, classes, n).astype(np.int32))):
                blob = gzip.compress(norb.encode_matrix(array), compresslevel=1, mtime=0)
                (root / (name + ".gz")).write_bytes(blob)
                digests[name + ".gz"] = hashlib.sha256(blob).hexdigest()
    return digests


def test_fetch_smallnorb_with_published_hashes(tmp_path, server, http_control):
    base, root = server
    digests = serve(root, "smallnorb", 5, np.random.default_rng(5))
    own = {name: f"sha256:{d}" for name, d in digests.items()}
    with pytest.raises(dl.ChecksumError, match=r"smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat.gz from "
                                               r".*: checksum mismatch, expected SHA256 5ffd6272"):
        data.fetch("smallnorb", data_dir=str(tmp_path), mirrors=[base], retries=0)  # TFDS's sums: not these files
    assert not (tmp_path / "smallnorb").exists()
    folder = data.fetch("smallnorb", data_dir=str(tmp_path), mirrors=[base], hashes=own, retries=0)
    assert sorted(os.listdir(folder)) == sorted(digests)  # kept compressed; no SHA256SUMS: hashes are published
    splits = data.load_splits("smallnorb", data_dir=str(tmp_path), hashes=own, download=False)
    assert {k: v[0].shape for k, v in splits.items()} == {"train": (4, 2048), "valid": (1, 2048), "test": (5, 2048)}
    assert len(http_control.requests) == 1 + 4
    states = [f["state"] for f in data.info("smallnorb", data_dir=str(tmp_path), hashes=own)["files"]]
    assert states == ["verified (registry hash)"] * 4


def test_fetch_norb_records_sha256_and_resumes(tmp_path, server, http_control):
    base, root = server
    digests = serve(root, "norb", 1, np.random.default_rng(6))
    late = "norb-5x01235x9x18x6x2x108x108-testing-01-dat.mat.gz"
    http_control.faults["/" + late] = ("status", 404)
    with pytest.raises(dl.FetchError, match=rf"{late}: HTTPError: 404"):
        data.fetch("norb", data_dir=str(tmp_path), mirrors=[base], retries=0)
    folder = tmp_path / "norb"
    fetched = sorted(os.listdir(folder))
    assert late not in fetched and len(fetched) == 1 + 20  # the 20 training files, whole, and SHA256SUMS
    assert integrity.read_manifest(str(folder)) == {n: digests[n] for n in fetched if n != integrity.MANIFEST}
    del http_control.faults["/" + late]
    http_control.requests.clear()
    data.fetch("norb", data_dir=str(tmp_path), mirrors=[base], retries=0)
    assert len(http_control.requests) == 4  # only what was missing: resumed, not restarted
    assert integrity.read_manifest(str(folder)) == digests
    splits = data.load_splits("norb", data_dir=str(tmp_path), download=False)
    assert {k: v[0].shape for k, v in splits.items()} == {"train": (8, 2048), "valid": (2, 2048), "test": (2, 2048)}
    report = data.info("norb", data_dir=str(tmp_path))
    assert report["checksums"].startswith("none published") and report["missing"] == []
    assert {f["state"] for f in report["files"]} == {"verified (SHA-256 in SHA256SUMS)"}
    # a file replaced after the first fetch is caught on every later load
    (folder / late).write_bytes((root / "norb-5x01235x9x18x6x2x108x108-testing-02-dat.mat.gz").read_bytes())
    with pytest.raises(dl.ChecksumError, match=rf"{late}: checksum mismatch, expected SHA256 {digests[late]}"):
        data.load_splits("norb", data_dir=str(tmp_path))


def place_bad_type_code(folder):
    """A small NORB label file placed by hand whose header holds an unknown type code; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    blob = bytearray(norb.encode_matrix(np.zeros(3, np.int32)))
    blob[0:4] = struct.pack("<I", 0x1E3D4C99)
    path = folder / norb.file_names("smallnorb")["training"][0][1]
    path.write_bytes(bytes(blob))
    return path


def test_a_damaged_local_file_is_named_before_the_download_error(tmp_path, server, http_control):
    base, root = server  # serves nothing: every download fails
    path = place_bad_type_code(tmp_path / "smallnorb")
    with pytest.raises(dl.FetchError) as failed:
        data.load_splits("smallnorb", data_dir=str(tmp_path), mirrors=[base], retries=0)
    message = str(failed.value)
    assert message.startswith(f"local file {path}: bad NORB magic number 0x1E3D4C99, expected one of 0x1E3D4C51")
    assert "then the download of the 3 missing file(s) failed: " in message and "404" in message
    assert path.exists()  # never overwritten nor deleted
    with pytest.raises(FileNotFoundError, match=rf"^local file {path}: bad NORB magic number .* downloading is off"):
        data.load_splits("smallnorb", data_dir=str(tmp_path), download=False)


def test_a_damaged_local_file_among_complete_ones_is_named(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "smallnorb"
    folder.mkdir()
    names = norb.file_names("smallnorb")
    write_pair(folder, *names["training"][0], 10, 96, rng, 5)
    write_pair(folder, *names["test"][0], 3, 96, rng, 5)
    path = place_bad_type_code(folder)
    with pytest.raises(ValueError, match=rf"^local file {path}: bad NORB magic number 0x1E3D4C99.*delete it"):
        data.fetch("smallnorb", data_dir=str(tmp_path), download=False)


def test_a_command_names_the_damaged_local_file_in_one_line(tmp_path, server, monkeypatch, capsys):
    base, root = server  # serves nothing: every download fails
    monkeypatch.setenv(norb.registry.SOURCES["smallnorb"].mirrors_env, base)
    path = place_bad_type_code(tmp_path / "data" / "smallnorb")
    argv = ["--dataset", "smallnorb", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
            "--epochs", "1", "--no-progress"]
    assert common.cli(train.main, argv) == common.EXIT_ERROR
    said = capsys.readouterr().err.strip().splitlines()
    assert said[-1].startswith(f"error: local file {path}: bad NORB magic number 0x1E3D4C99")
    assert "then the download of the 3 missing file(s) failed" in said[-1] and "Traceback" not in "".join(said)
    assert not (tmp_path / "out").exists()
