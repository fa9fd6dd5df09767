#!/usr/bin/env node
// @ts-check
// Print supgrpcd's status, then follow one program's log (stdout and stderr) until Ctrl-C.
//
//   node examples/status.js unix:///run/supgrpc.sock            # status only
//   node examples/status.js unix:///run/supgrpc.sock web        # status, then follow web
//   SUPGRPC_TOKEN=s3cret node examples/status.js 127.0.0.1:50051 web
//
// The token comes from $SUPGRPC_TOKEN (or --token T). Outside this repository, after
// `npm install supgrpc-client`, the require below is the same.
'use strict';
const { connect, splitLines, SupgrpcError } = require('supgrpc-client');

/** @returns {never} */
function usage() {
  console.error('usage: node examples/status.js [--token T] [--lines N] ADDRESS [PROGRAM]');
  process.exit(2);
}

async function main() {
  const args = process.argv.slice(2);
  let token = process.env.SUPGRPC_TOKEN;
  let lines = 10;
  const positional = [];
  while (args.length > 0) {
    const arg = /** @type {string} */ (args.shift());
    if (arg === '--token') token = args.shift() ?? usage();
    else if (arg === '--lines') lines = Number(args.shift() ?? usage());
    else if (arg.startsWith('-')) usage();
    else positional.push(arg);
  }
  if (positional.length < 1 || positional.length > 2) usage();
  const [address, program] = positional;

  const client = connect({ address, token });
  try {
    const daemon = await client.getState();
    console.log(`supgrpcd ${daemon.version} pid ${daemon.pid} ${daemon.state} (${daemon.configFile || 'no config file'})`);
    for (const p of await client.listProcesses()) {
      console.log(`${p.namespec.padEnd(33)} ${p.state.padEnd(10)} ${p.description}`);
    }
    if (!program) return;

    console.log(`--- following ${program} (Ctrl-C to stop) ---`);
    const stream = client.followLogs(program, { streams: ['stdout', 'stderr'], fromLastLines: lines });
    process.once('SIGINT', () => stream.cancel()); // the loop below then ends quietly
    process.once('SIGTERM', () => stream.cancel());
    for await (const entry of splitLines(stream)) {
      if (entry.gap > 0) console.log(`[${entry.process}: ${entry.gap} bytes skipped]`);
      else console.log(`${entry.process}${entry.stream === 'stderr' ? ' (err)' : ''} | ${entry.line}`);
    }
  } finally {
    client.close();
  }
}

main().catch((err) => {
  if (err instanceof SupgrpcError) console.error(`status.js: ${err.status}: ${err.details}`);
  else console.error(`status.js: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
