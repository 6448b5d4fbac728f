'use strict';
// Loads the first M readings (readings.js) into a memcached-protocol server:
//   node mcload.js HOST PORT M
// binary protocol, pipelines of 2,000 SETQs closed by a NOOP (only
// failures and the NOOP's reply come back), one batch in flight. Fails on
// any error reply.

const net = require('net');
const readings = require('./readings.js');

const BATCH = 2000;

function frame(opcode, key, extras, value) {
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  return [h, extras, key, value];
}

async function main() {
  const [host, port, m] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  if (!host || !(port > 0) || !(m > 0)) {
    console.error('usage: node mcload.js HOST PORT M');
    process.exit(2);
  }
  const sock = net.connect(port, host);
  sock.setNoDelay(true);
  await new Promise((ok, fail) => { sock.once('connect', ok); sock.once('error', fail); });
  let input = Buffer.alloc(0);
  let waiting = null;
  sock.on('data', (d) => {
    input = input.length ? Buffer.concat([input, d]) : d;
    while (input.length >= 24) {
      const len = 24 + input.readUInt32BE(8);
      if (input.length < len) break;
      const op = input[1];
      const status = input.readUInt16BE(6);
      const body = input.subarray(24, len);
      input = input.subarray(len);
      if (op !== 0x0a || status !== 0) {
        console.error(`mcload: opcode 0x${op.toString(16)} status ${status}: ${body}`);
        process.exit(1);
      }
      waiting();
    }
  });
  sock.on('error', (e) => { console.error(`mcload: ${e}`); process.exit(1); });
  const extras = Buffer.alloc(8); // flags 0, no expiry
  const noop = Buffer.concat(frame(0x0a, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)));
  let parts = [];
  let n = 0;
  const batches = [];
  readings.forEach(m, (i, key, ts, serial, tenths) => {
    parts.push(...frame(0x11, Buffer.from(key), extras, Buffer.from(readings.valueText(ts, serial, tenths))));
    if (++n % BATCH === 0 || n === m) {
      parts.push(noop);
      batches.push(Buffer.concat(parts));
      parts = [];
    }
  });
  const t0 = process.hrtime.bigint();
  for (const b of batches) {
    await new Promise((ok) => { waiting = ok; sock.write(b); });
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`mammoth: loaded ${m} readings in ${secs.toFixed(1)} s (binary SETQ pipelines of ${BATCH}, durable)`);
  sock.end();
}

main();
