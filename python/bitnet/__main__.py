"""``python -m bitnet --version``: the package's and libbitnet's versions and this CPU's features."""
import argparse
import sys

import bitnet


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bitnet", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print versions and CPU features")
    args = parser.parse_args(argv)
    if not args.version:
        parser.print_help()
        return 0
    print(f"bitnet {bitnet.__version__} (libbitnet {bitnet.library_version()}, "
          f"Python {sys.version.split()[0]})")
    print(f"build: {bitnet.build_info()}")
    print(f"cpu features: {bitnet.cpu_features() or '(none)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
