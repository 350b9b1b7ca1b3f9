# airlock warm-pool bootstrap for Python, run as `python3 -c <this> [preload...]`
# in a sandbox prepared ahead of its job. It imports the preloads, says it
# is ready on descriptor 3 and reads its job there (see jobInput in
# warm.go). It writes the files and runs the script as
# `python3 script args...` would: as __main__, with the same sys.argv,
# sys.path[0], __file__, exit status and tracebacks. Everything lives in
# one function, so the script's globals start as empty as a cold
# interpreter's.
def _airlock_boot():
    import atexit
    import builtins
    import os
    import sys
    from importlib.machinery import SourceFileLoader

    def exit_fast(status):
        # The interpreter's own exit but for tearing down every object,
        # which costs milliseconds and no script may count on: wait for
        # the threads, run the atexit functions, flush the standard
        # streams. A stream that cannot be flushed gets the interpreter's
        # full treatment (its message, status 120).
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        atexit._run_exitfuncs()
        try:
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                if stream is not None:
                    stream.flush()
        except BaseException:
            sys.exit(status)
        os._exit(status & 0xFF)

    # What the job would otherwise pay for: the first compile is slow.
    compile("pass", "<warm-up>", "exec", dont_inherit=True)
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
    data = b"".join(chunks)
    del chunks
    at = 0

    def field():
        nonlocal at
        end = data.index(b"\0", at)
        value, at = data[at:end], end + 1
        return value

    argv = [os.fsdecode(field()) for _ in range(int(field()))]
    files = [(os.fsdecode(field()), int(field()), int(field())) for _ in range(int(field()))]
    for name, mode, size in files:
        name = os.path.join("/box", name)
        if name.endswith("/"):
            os.makedirs(name, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(name), exist_ok=True)
        mode = mode or 0o644
        with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
            out.write(data[at:at + size])
        at += size
        os.chmod(name, mode)
    del data

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
        status = 0
    except SystemExit as e:
        if e.code is not None and not (type(e.code) is int and -2**31 <= e.code < 2**31):
            raise  # the interpreter prints it and exits 1
        status = e.code or 0
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
        status = 1
    exit_fast(status)


_airlock_boot()
