# airlock warm-pool bootstrap for Python, run as `python3 -c <this> [preload...]`
# in a sandbox prepared ahead of its job. It imports the preloads, waits
# for the job on descriptor 3, writes the job's files, and then runs the
# script as `python3 script args...` would: as __main__, with the same
# sys.argv, sys.path[0], __file__, exit status and tracebacks. Everything
# lives in one function, so the script's globals start as empty as a cold
# interpreter's.
def _airlock_boot():
    import base64
    import builtins
    import json
    import os
    import sys

    for name in sys.argv[1:]:
        try:
            __import__(name)
        except Exception:
            pass
    os.write(3, b"R")
    chunks = []
    while True:
        chunk = os.read(3, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(3)
    job = json.loads(b"".join(chunks))
    for f in job["files"]:
        name = os.path.join("/box", f["name"])
        if name.endswith("/"):
            os.makedirs(name, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(name), exist_ok=True)
        mode = f.get("mode") or 0o644
        with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
            out.write(base64.b64decode(f.get("content") or ""))
        os.chmod(name, mode)

    argv = job["argv"]
    path = os.path.abspath(argv[1])
    sys.argv[:] = argv[1:]
    sys.path[0] = os.path.dirname(path)
    try:
        with open(path, "rb") as script:
            source = script.read()
    except OSError as e:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n" % (argv[0], path, e.errno, e.strerror))
        sys.exit(2)

    import __main__
    from importlib.machinery import SourceFileLoader

    scope = __main__.__dict__
    scope.clear()
    scope.update(__name__="__main__", __doc__=None, __package__=None,
                 __loader__=SourceFileLoader("__main__", path), __spec__=None,
                 __annotations__={}, __builtins__=builtins, __file__=path, __cached__=None)
    code = None
    try:
        code = compile(source, path, "exec", dont_inherit=True)
        del source
        exec(code, scope)
    except SystemExit:
        raise
    except BaseException as e:
        # Report as the interpreter would, from the script's first frame on.
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code is not code:
            tb = tb.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        if isinstance(e, KeyboardInterrupt):
            import signal
            sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        sys.exit(1)


_airlock_boot()
