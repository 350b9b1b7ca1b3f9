# airlock function-mode harness for Python: loads the user's file, calls
# its calculate(inputs) and writes the JSON result to the harness's own
# channel, leaving stdout to the user. User code is run from its own file,
# never pasted anywhere, so tracebacks show the user's lines.
import json
import os
import runpy
import sys
import traceback

CHANNEL = ".airlock/result.json"
HARNESS = os.path.abspath(__file__)


def emit(text):
    with open(CHANNEL, "w", encoding="utf-8") as f:
        f.write(text)


def fail(kind, message, tb=""):
    emit(json.dumps({"error": {"type": kind, "message": message, "traceback": tb}}))
    sys.exit(1)


def user_traceback(exc):
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) != HARNESS and "runpy" not in os.path.basename(f.filename)]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "Traceback (most recent call last):\n" + "".join(lines)


def main():
    entry = sys.argv[1]
    with open(".airlock/inputs.json", encoding="utf-8") as f:
        inputs = json.load(f)
    sys.argv = [entry]
    sys.path.insert(0, os.path.dirname(os.path.abspath(entry)))
    try:
        namespace = runpy.run_path(entry, run_name="__airlock_user__")
    except BaseException as e:
        fail(type(e).__name__, str(e), user_traceback(e))
    calculate = namespace.get("calculate")
    if not callable(calculate):
        fail("MissingFunction", "the program defines no calculate(inputs) function")
    try:
        output = calculate(inputs)
    except BaseException as e:
        fail(type(e).__name__, str(e), user_traceback(e))
    try:
        text = json.dumps(output, allow_nan=False)
    except (TypeError, ValueError) as e:
        fail("NotSerializable", "calculate returned a value that is not JSON: %s" % e)
    emit('{"output": ' + text + "}")


main()
