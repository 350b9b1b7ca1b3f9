// airlock warm-pool bootstrap for Node.js, run as `node -e <this> [preload...]`
// in a sandbox prepared ahead of its job. It loads the preloads, waits for
// the job on descriptor 3, writes the job's files, and then runs the
// script as `node script args...` would, through Node's own entry point
// (CommonJS or ES module), with the eval-mode globals and flags removed.
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
    const job = JSON.parse(data);
    for (const f of job.files) {
      const name = path.join('/box', f.name);
      if (f.name.endsWith('/')) {
        fs.mkdirSync(name, { recursive: true });
        continue;
      }
      fs.mkdirSync(path.dirname(name), { recursive: true });
      const mode = f.mode || 0o644;
      fs.writeFileSync(name, Buffer.from(f.content || '', 'base64'), { mode, flag: 'wx' });
      fs.chmodSync(name, mode);
    }
    process.argv = [process.execPath, path.resolve(job.argv[1]), ...job.argv.slice(2)];
    process.execArgv = [];
    for (const name of ['require', 'module', 'exports', '__filename', '__dirname']) {
      delete globalThis[name];
    }
    // From a fresh turn of the event loop, so no frame of ours is on the
    // script's stack.
    setImmediate(Module.runMain);
  });
})();
