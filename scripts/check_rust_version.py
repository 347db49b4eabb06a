#!/usr/bin/env python3
"""Checks that the workspace's `rust-version` is at least what the locked dependencies need.

Only one toolchain can be installed here, so instead of building with the declared version this
reads, from `cargo metadata`, the `rust-version` every dependency that is built on this platform
declares (`cargo tree`, normal, build and dev dependencies, all features) and fails when the
workspace claims less than the largest of them. Run from the repository root.
"""
import json
import subprocess
import sys


def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    tree = subprocess.run(
        ["cargo", "tree", "--workspace", "--all-features", "--locked", "-e", "normal,build,dev",
         "--prefix", "none", "--target", "x86_64-unknown-linux-gnu"],
        check=True, capture_output=True, text=True).stdout
    built = {tuple(line.split()[:2]) for line in tree.splitlines() if len(line.split()) >= 2}
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True, capture_output=True, text=True).stdout)
    declared = None
    needs = []
    for package in meta["packages"]:
        if package["source"] is None and package.get("rust_version"):
            declared = version(package["rust_version"])
        elif (package["name"], "v" + package["version"]) in built and package.get("rust_version"):
            needs.append((version(package["rust_version"]), package["name"], package["version"]))
    if declared is None:
        sys.exit("the workspace declares no rust-version")
    needs.sort()
    most, name, ver = needs[-1]
    shown = ".".join(map(str, most))
    if declared < most:
        sys.exit(f"rust-version {'.'.join(map(str, declared))} is below {shown}, "
                 f"which {name} {ver} needs")
    print(f"rust-version {'.'.join(map(str, declared))}: the locked dependencies need {shown} "
          f"({name} {ver})")


if __name__ == "__main__":
    main()
