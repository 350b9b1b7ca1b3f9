// airlock function-mode harness for JavaScript: imports the user's file
// (CommonJS or ES module), calls its exported calculate(inputs) (which may
// be async) and writes the JSON result to the harness's own channel,
// leaving stdout to the user. User code is loaded from its own file, never
// pasted anywhere, so stack traces show the user's lines.
'use strict';
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');

const CHANNEL = '.airlock/result.json';

function fail(type, message, traceback) {
  fs.writeFileSync(CHANNEL, JSON.stringify({ error: { type, message, traceback: traceback || '' } }));
  process.exitCode = 1;
}

function userStack(err) {
  if (!err || typeof err.stack !== 'string') return '';
  return err.stack.split('\n')
    .filter((line) => !line.includes(__filename) && !line.includes('node:internal'))
    .join('\n');
}

function failWith(err) {
  const type = (err && err.name) || typeof err;
  const message = err && err.message !== undefined ? String(err.message) : String(err);
  fail(type, message, userStack(err));
}

async function main() {
  const inputs = JSON.parse(fs.readFileSync('.airlock/inputs.json', 'utf8'));
  const entry = path.resolve(process.argv[2]);
  let mod;
  try {
    mod = await import(pathToFileURL(entry).href);
  } catch (err) {
    return failWith(err);
  }
  const exported = mod.calculate || (mod.default && mod.default.calculate) ||
    (typeof mod.default === 'function' ? mod.default : undefined);
  if (typeof exported !== 'function') {
    return fail('MissingFunction', 'the program exports no calculate(inputs) function');
  }
  let output;
  try {
    output = await exported(inputs);
  } catch (err) {
    return failWith(err);
  }
  let text;
  try {
    text = JSON.stringify(output);
  } catch (err) {
    return fail('NotSerializable', 'calculate returned a value that is not JSON: ' + err.message);
  }
  if (text === undefined) {
    return fail('NotSerializable', 'calculate returned a value that is not JSON: ' + typeof output);
  }
  fs.writeFileSync(CHANNEL, '{"output": ' + text + '}');
}

main().catch(failWith);
