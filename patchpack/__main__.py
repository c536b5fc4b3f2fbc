"""The entry point (`patchpack` and `python -m patchpack`).

It imports the command line inside :func:`main`, not at the top: a Ctrl-C while patchpack's
modules and libraries load (a tenth of a second) is then exit 130 and one line, as a Ctrl-C
later is, not a traceback from the import in pip's script (issue 15).

`patchpack guard` is answered here, before click loads: an agent runs it before every tool
call, and click alone costs it more than the interpreter's own start-up (#16). So are the
forms of `check`, `next` and `status` an agent runs at each step (patchpack.agents.quick).
"""

import sys

_GUARD_OPTIONS = {"--limit-all"}
_QUICK_OPTIONS = {"check": {"--staged", "--json"}, "next": {"--json"}, "status": {"--json", "--tracked-only"}}


def main() -> None:
    argv = sys.argv[1:]
    try:
        if argv[:1] == ["guard"] and set(argv[1:]) <= _GUARD_OPTIONS:
            sys.exit(_guard(limit_all="--limit-all" in argv))
        if argv and argv[0] in _QUICK_OPTIONS and set(argv[1:]) <= _QUICK_OPTIONS[argv[0]]:
            code = _quick(argv[0], set(argv[1:]))
            if code is not None:
                sys.exit(code)
        from patchpack.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("patchpack: interrupted\n")
        sys.exit(130)  # errors.EXIT_INTERRUPTED, not imported: its import may be what was cut
    run()


def _guard(*, limit_all: bool) -> int:
    """`patchpack guard [--limit-all]` as the click command answers it (``--help`` and any
    other argument go to click): the same output, the same exit codes."""
    import io

    try:
        from patchpack.agents.guard import answer

        # A reason may name a path that is not UTF-8: its bytes go out as git prints them.
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="surrogateescape")
        result = answer(sys.stdin.buffer.read().decode("utf-8", "surrogateescape"), limit_all=limit_all)
        if result.stdout:
            print(result.stdout, flush=True)
        if result.stderr:
            print(result.stderr, file=sys.stderr, flush=True)
        return result.exit_code
    except Exception:  # the guard fails open by itself: this is a bug, as for any command
        import traceback

        traceback.print_exc()
        sys.stderr.write("patchpack: internal error (a bug in patchpack); please report it\n")
        return 3


def _quick(command: str, options: set[str]) -> int | None:
    """`check`, `next` or `status` as the click command answers it, or None (nothing printed)
    when click has to: the quick path reads only what it can read without libgit2."""
    import io

    try:
        from patchpack.agents import quick
        from patchpack.errors import PatchpackError

        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="surrogateescape")
        try:
            return quick.answer(command, options)
        except PatchpackError as e:
            quick.echo(e.render(), sys.stderr)
            return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("patchpack: interrupted\n")
        return 130
    except Exception:
        import traceback

        traceback.print_exc()
        sys.stderr.write("patchpack: internal error (a bug in patchpack); please report it\n")
        return 3


if __name__ == "__main__":
    main()
