"""CIFAR-10 binary batches: round trip, the paper's 50k/5k/5k rule on small files, tarball, errors."""
import io
import tarfile

import numpy as np
import pytest

import deep_sparse.data as data
from deep_sparse.data import cifar10


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
    with tarfile.open(folder / cifar10.TARBALL, "w:gz") as tar:
        for name, (x, y) in arrays.items():
            blob = cifar10.encode_batch(x, y)
            info = tarfile.TarInfo(f"{cifar10.SUBDIR}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    from_tar = data.load_splits("cifar10", data_dir=str(tmp_path / "b"), n_valid=3)
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(from_sub[split][0], from_tar[split][0])
    assert sorted(p.name for p in folder.iterdir()) == [cifar10.TARBALL]  # nothing extracted
    assert data.fetch("cifar10", data_dir=str(tmp_path / "b"), n_valid=3) == str(folder)


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
    with pytest.raises(FileNotFoundError, match=r"data directory .*empty/cifar10 does not exist"):
        data.load_splits("cifar10", data_dir=str(tmp_path / "empty"))
    (tmp_path / "empty2" / "cifar10").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin"):
        data.fetch("cifar10", data_dir=str(tmp_path / "empty2"))
