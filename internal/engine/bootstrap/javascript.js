// airlock warm-pool bootstrap for Node.js, run as `node -e <this> [preload...]`
// in a sandbox prepared ahead of its job. It loads the preloads, says it is
// ready on descriptor 3 and reads its job there (see jobInput in warm.go).
// It writes the files and runs the script as
// `node script args...` would, through Node's own entry point (CommonJS or
// ES module), with the eval-mode globals and flags removed.
(() => {
  'use strict';
  const fs = require('fs');
  const path = require('path');
  const Module = require('module');

  for (const name of process.argv.slice(1)) {
    try {
      require(name);
    } catch {
      // A preload that is not installed is skipped.
    }
  }
  fs.writeSync(3, 'R');
  fs.readFile(3, (err, data) => {
    if (err) throw err;
    fs.closeSync(3);
    let at = 0;
    const field = () => {
      const end = data.indexOf(0, at);
      const value = data.toString('utf8', at, end);
      at = end + 1;
      return value;
    };
    const argv = Array.from({ length: Number(field()) }, field);
    const files = Array.from({ length: Number(field()) }, () => ({ name: field(), mode: Number(field()), size: Number(field()) }));
    for (const f of files) {
      const name = path.join('/box', f.name);
      if (f.name.endsWith('/')) {
        fs.mkdirSync(name, { recursive: true });
        continue;
      }
      fs.mkdirSync(path.dirname(name), { recursive: true });
      const mode = f.mode || 0o644;
      fs.writeFileSync(name, data.subarray(at, at + f.size), { mode, flag: 'wx' });
      fs.chmodSync(name, mode);
      at += f.size;
    }
    process.argv = [process.execPath, path.resolve(argv[1]), ...argv.slice(2)];
    process.execArgv = [];
    for (const name of ['require', 'module', 'exports', '__filename', '__dirname']) {
      delete globalThis[name];
    }
    // From a fresh turn of the event loop, so no frame of ours is on the
    // script's stack.
    setImmediate(Module.runMain);
  });
})();
