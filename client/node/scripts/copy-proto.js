#!/usr/bin/env node
// Copies the contract (../../proto/supgrpc/v1/*.proto in the repository) into dist/proto, so the
// built package is self-contained (npm pack, or a copy of client/node outside the repository).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const source = path.resolve(root, '..', '..', 'proto', 'supgrpc', 'v1');
const target = path.join(root, 'dist', 'proto', 'supgrpc', 'v1');

if (!fs.existsSync(source)) {
  // Outside the repository (e.g. installed from a tarball): dist/proto was packed already.
  if (fs.existsSync(path.join(target, 'supervisor.proto'))) process.exit(0);
  console.error(`copy-proto: ${source} not found and no dist/proto to fall back on`);
  process.exit(1);
}
fs.mkdirSync(target, { recursive: true });
for (const name of fs.readdirSync(source)) {
  if (name.endsWith('.proto')) fs.copyFileSync(path.join(source, name), path.join(target, name));
}
