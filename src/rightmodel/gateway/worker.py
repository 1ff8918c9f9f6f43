"""One worker of `rightmodel serve --workers N` (started by gateway/supervisor.py, never by hand).

Its options, index and name come in `$RIGHTMODEL_WORKER_SPEC` (JSON); see gateway/launch.py for
what a worker does differently from a lone gateway.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    from rightmodel.errors import RightmodelError
    from rightmodel.gateway.launch import ServeOptions, run
    from rightmodel.gateway.supervisor import SPEC_ENV

    spec = json.loads(os.environ[SPEC_ENV])
    try:
        started = run(ServeOptions(**spec["options"]), worker=int(spec["index"]), instance=spec["instance"])
    except RightmodelError as exc:
        print(f"error: worker {spec['index']}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    sys.exit(0 if started else 1)


if __name__ == "__main__":
    main()
