"""Whether training processes may be started from here.

The fold pool starts its workers with multiprocessing's spawn method (fork after torch's
OpenMP start-up can hang), and spawn runs the caller's main script again in every worker, as
`__mp_main__`. A script that calls `run_study` at its top level, outside
`if __name__ == "__main__":`, would start the study again in each worker, which fails there
and breaks the pool (BrokenProcessPool). `unguarded_main_call` recognises that caller, so the
study can train in its own process instead: results do not depend on the number of processes.
"""

from __future__ import annotations

import ast
import linecache
import os
import sys
import threading
from types import FrameType, ModuleType


def unguarded_main_call() -> str | None:
    """The main script's path when this call runs from its top-level code outside an
    `if __name__ == "__main__":` block, so that a spawned worker would run it again; else None
    (a notebook, `python -c`, `python -m package`, a guarded script, a call from a library)."""
    main = sys.modules.get("__main__")
    if main is None or not _spawn_runs_main(main):
        return None
    frame = _main_module_frame(main)
    if frame is None:  # the script's top level is not running: workers would not reach us
        return None
    path = frame.f_code.co_filename
    return None if _guarded(path, frame.f_lineno) else path


def _spawn_runs_main(main: ModuleType) -> bool:
    """What multiprocessing.spawn does with `__main__` in a worker: run it again when it is a
    module run with -m (but not a package's __main__) or a script file (but not IPython)."""
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:
        return not (name == "__main__" or name.endswith(".__main__"))
    path = getattr(main, "__file__", None)
    if path is None:
        return False
    return os.path.splitext(os.path.basename(path))[0] != "ipython"


def _main_module_frame(main: ModuleType) -> FrameType | None:
    """The frame running the main module's top-level code, on this thread's stack (or, from
    another thread, on the main thread's)."""
    frame = sys._getframe(1)
    if threading.current_thread() is not threading.main_thread():
        frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None:
        if frame.f_globals is main.__dict__ and frame.f_code.co_name == "<module>":
            return frame
        frame = frame.f_back
    return None


def _guarded(path: str, line: int) -> bool:
    """Whether `line` of the script at `path` lies in the body of a top-level
    `if __name__ == "__main__":`. A source that cannot be read counts as unguarded."""
    try:
        tree = ast.parse("".join(linecache.getlines(path)))
    except (SyntaxError, ValueError):
        return False
    for stmt in tree.body:
        if not stmt.lineno <= line <= (stmt.end_lineno or stmt.lineno):
            continue
        if not isinstance(stmt, ast.If) or not _is_main_test(stmt.test) or not stmt.body:
            return False
        return stmt.body[0].lineno <= line <= (stmt.body[-1].end_lineno or line)
    return False


def _is_main_test(test: ast.expr) -> bool:
    """`__name__ == "__main__"`, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(consts) == 1
