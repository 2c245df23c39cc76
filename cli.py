"""The ``registers`` command from a checkout (``python cli.py``): a shim over ``registers.cli``.

The installed ``registers`` command runs ``registers.cli:main`` itself; this file is not installed.
"""

from registers.cli import main

if __name__ == "__main__":
    main()
