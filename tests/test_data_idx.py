"""IDX reader/writer: round trips and every validation error."""
import gzip
import struct

import numpy as np
import pytest

from deep_sparse.data import idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_every_type(tmp_path, dtype):
    rng = np.random.default_rng(0)
    array = (rng.normal(0, 50, size=(3, 4, 5))).astype(dtype)
    path = str(tmp_path / "a.idx")
    idx.write_idx(path, array)
    back = idx.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_header_is_big_endian_mnist_layout():
    data = idx.encode_idx(np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert data[:4] == b"\x00\x00\x08\x02"
    assert struct.unpack(">II", data[4:12]) == (2, 3)
    assert data[12:] == bytes(range(6))
    data32 = idx.encode_idx(np.array([1], np.int32))
    assert data32 == b"\x00\x00\x0c\x01" + struct.pack(">I", 1) + struct.pack(">i", 1)


def test_gzip_file_is_read(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx.encode_idx(array)))
    np.testing.assert_array_equal(idx.read_idx(str(path), ndim=3, shape=(None, 3, 4)), array)


def test_truncated_file_names_file_and_sizes(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx.encode_idx(np.zeros((2, 3, 3), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"images: truncated IDX file, expected 34 bytes .* got 33"):
        idx.read_idx(str(path))
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="images: truncated IDX file, expected at least a 4-byte header"):
        idx.read_idx(str(path))
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02")
    with pytest.raises(ValueError, match="images: truncated IDX header, expected 16 bytes"):
        idx.read_idx(str(path))


def test_too_long_file(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx.encode_idx(np.zeros(3, np.uint8)) + b"\x00")
    with pytest.raises(ValueError, match="labels: too long IDX file, expected 11 bytes"):
        idx.read_idx(str(path))


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"bad: bad IDX magic number 0x01000801"):
        idx.read_idx(str(path))
    path.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="bad IDX magic number 0x00000701"):
        idx.read_idx(str(path))


def test_expected_dimensions_are_enforced(tmp_path):
    path = tmp_path / "imgs"
    idx.write_idx(str(path), np.zeros((2, 27, 28), np.uint8))
    with pytest.raises(ValueError, match=r"imgs: expected an IDX file of 1 dimension\(s\), the header says 3"):
        idx.read_idx(str(path), ndim=1)
    with pytest.raises(ValueError, match=r"imgs: expected IDX dimensions \(None, 28, 28\), the header says \(2, 27, 28\)"):
        idx.read_idx(str(path), shape=(None, 28, 28))
    assert idx.read_idx(str(path), shape=(2, 27, 28)).shape == (2, 27, 28)


def test_unsupported_dtype():
    with pytest.raises(ValueError, match="IDX cannot store dtype int64"):
        idx.encode_idx(np.zeros(2, np.int64))
