"""``python -m emulators.moonshot``: see :mod:`emulators.moonshot.cli`."""

from emulators.moonshot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
