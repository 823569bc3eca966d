"""`python -m octo_assets.run` (what `make run` runs); see octo_assets.run.

A `__main__` module of its own: the readings workers are spawned processes, and a spawned process
re-imports its parent's main module unless that module is a package's `__main__`. This one
imports nothing, so a worker starts without importing Dagster.

It starts the working process in a process group of its own and passes it SIGINT and SIGTERM
(octo_assets.run.interrupt), so that Ctrl-C stops the run with one sentence.
"""

import os
import sys

if __name__ == "__main__":
    import octo_assets.run.interrupt as interrupt

    if os.name == "posix" and not os.environ.get(interrupt.WORKING):
        sys.exit(interrupt.supervise(sys.argv[1:]))
    interrupt.install()
    try:
        try:
            from octo_assets.run.pipeline import main
        except ValueError as exc:  # a setting read as the definitions load (OCTO_DAYS_PER_RUN)
            raise SystemExit(str(exc)) from None
        sys.exit(main())
    except interrupt.Interrupted as stopped:
        print(stopped.sentence(), file=sys.stderr, flush=True)
        sys.exit(stopped.exit_code)
