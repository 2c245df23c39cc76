"""The ``registers`` command (installed as ``registers``); the click layer is ``registers.cli``."""

from registers.cli import main

if __name__ == "__main__":
    main()
