'use strict';
/*
 * Node-side half of the fast provider import (modules/provider_import.py is the Python half).
 *
 * When the jsii kernel loads the @cdktf/provider-aws assembly it `require`s the package's
 * lib/index.js, which is nothing but ~2,100 lines of
 *     exports.s3Bucket = require("./s3-bucket");
 * and so loads every resource module (about 3 s of a 7 s synth on a 2-core machine). The kernel
 * then only reads the exports it needs, one property at a time (`closure.s3Bucket.S3Bucket`).
 *
 * Loaded with `node --require` (modules/__init__.py puts it in NODE_OPTIONS), this file serves that
 * one index as an object whose properties `require` their module on first read, and then hold it as
 * a plain value, so the kernel sees the same classes as before and the output is byte-identical.
 * Anything it does not recognise (another file, an index with any other kind of statement, a parse
 * surprise) goes to Node's own loader unchanged. It writes nothing to stdout or stderr.
 */
const Module = require('module');
const fs = require('fs');
const path = require('path');

const INDEX = /[\\/]@cdktf[\\/]provider-aws[\\/]lib[\\/]index\.js$/;
const REQUIRE_LINE = /^exports\.([A-Za-z_$][\w$]*) = require\("(\.\/[a-z0-9-]+)"\);$/;
const VOID_LINE = /^exports\.[A-Za-z_$][\w$]*( = exports\.[A-Za-z_$][\w$]*)* = void 0;$/;
const ESMODULE_LINE = 'Object.defineProperty(exports, "__esModule", { value: true });';

/** Export name -> relative path, or null when the file is anything but a plain re-export index. */
function parseIndex(source) {
  const body = source.replace(/\/\*[\s\S]*?\*\//g, '').split('\n').map((l) => l.trim()).filter(Boolean);
  const entries = [];
  let sawEsModule = false;
  for (const line of body) {
    if (line === '"use strict";' || line.startsWith('//')) continue;
    if (line === ESMODULE_LINE) { sawEsModule = true; continue; }
    if (VOID_LINE.test(line)) continue;
    const match = REQUIRE_LINE.exec(line);
    if (!match) return null;
    entries.push([match[1], match[2]]);
  }
  if (!sawEsModule || entries.length === 0) return null;
  return entries;
}

function lazyIndex(filename, parent) {
  const entries = parseIndex(fs.readFileSync(filename, 'utf8'));
  if (entries === null) return null;
  const mod = new Module(filename, parent);
  mod.filename = filename;
  mod.paths = Module._nodeModulePaths(path.dirname(filename));
  const exported = mod.exports;
  Object.defineProperty(exported, '__esModule', { value: true });
  for (const [name, relative] of entries) {
    Object.defineProperty(exported, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = mod.require(relative);
        Object.defineProperty(exported, name, { value, enumerable: true, writable: true, configurable: true });
        return value;
      },
      set(value) {
        Object.defineProperty(exported, name, { value, enumerable: true, writable: true, configurable: true });
      },
    });
  }
  mod.loaded = true;
  Module._cache[filename] = mod;
  return exported;
}

const originalLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  if (typeof request === 'string' && request.endsWith('index.js') && INDEX.test(request)) {
    try {
      const filename = Module._resolveFilename(request, parent, isMain);
      if (!(filename in Module._cache)) {
        const exported = lazyIndex(filename, parent);
        if (exported !== null) return exported;
      }
    } catch (_) {
      // fall through to the normal loader, which reports any real problem itself
    }
  }
  return originalLoad.apply(this, arguments);
};

module.exports = { parseIndex };
