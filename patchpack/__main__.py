"""The entry point (`patchpack` and `python -m patchpack`).

It imports the command line inside :func:`main`, not at the top: a Ctrl-C while patchpack's
modules and libraries load (a tenth of a second) is then exit 130 and one line, as a Ctrl-C
later is, not a traceback from the import in pip's script (issue 15).
"""

import sys


def main() -> None:
    try:
        from patchpack.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("patchpack: interrupted\n")
        sys.exit(130)  # errors.EXIT_INTERRUPTED, not imported: its import may be what was cut
    run()


if __name__ == "__main__":
    main()
