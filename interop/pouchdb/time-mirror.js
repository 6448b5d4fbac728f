'use strict';
// Times a filtered `mammoth tap mirror` into an empty target:
//   node time-mirror.js MAMMOTH SRC DST NAME FILTER COUNT
// starts `MAMMOTH tap mirror --from SRC --to DST --name NAME --filter FILTER`
// and polls DST's `stats` curr_items (text protocol, every 5 ms) until it
// reaches COUNT; the time from starting the mirror to then is the result.
// Then it checks that nothing more arrives (curr_items still COUNT 0.5 s
// later), stops the mirror with SIGINT (its Ctrl-C) and prints
// "mammoth S" with S in seconds.

const net = require('net');
const { spawn } = require('child_process');

function statsClient(hostPort) {
  const i = hostPort.lastIndexOf(':');
  const sock = net.connect(Number(hostPort.slice(i + 1)), hostPort.slice(0, i));
  sock.setNoDelay(true);
  let buf = '';
  let pending = null;
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    const end = buf.indexOf('END\r\n');
    if (end >= 0 && pending) {
      const text = buf.slice(0, end);
      buf = buf.slice(end + 5);
      const m = /STAT curr_items (\d+)/.exec(text);
      const p = pending;
      pending = null;
      p(m ? Number(m[1]) : NaN);
    }
  });
  sock.on('error', (e) => { console.error(`time-mirror: ${hostPort}: ${e}`); process.exit(1); });
  return {
    items: () => new Promise((ok) => { pending = ok; sock.write('stats\r\n'); }),
    close: () => sock.end(),
  };
}

let mirror = null;
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function main() {
  const [bin, src, dst, name, filter, count] = process.argv.slice(2);
  const want = Number(count);
  if (!filter || !(want >= 0)) {
    console.error('usage: node time-mirror.js MAMMOTH SRC DST NAME FILTER COUNT');
    process.exit(2);
  }
  const target = statsClient(dst);
  if ((await target.items()) !== 0) throw new Error(`${dst} is not empty`);
  let log = '';
  const t0 = process.hrtime.bigint();
  mirror = spawn(bin, ['tap', 'mirror', '--from', src, '--to', dst, '--name', name,
    '--filter', filter, '--status-every', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  mirror.stderr.on('data', (d) => { log += d; });
  let exited = null;
  mirror.on('exit', (code, sig) => { exited = `exit ${code ?? sig}`; });
  let n = 0;
  const deadline = Date.now() + 600000;
  for (;;) {
    n = await target.items();
    if (n >= want) break;
    if (exited || Date.now() > deadline) {
      throw new Error(`mirror ${exited || 'timed out'} with ${n} of ${want} items on the target:\n${log}`);
    }
    await sleep(5);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await sleep(500);
  const after = await target.items();
  mirror.kill('SIGINT');
  await new Promise((ok) => { if (exited) ok(); else mirror.on('exit', ok); });
  target.close();
  if (n !== want || after !== want) {
    throw new Error(`the target holds ${after} items (${n} when counted); the filter selects ${want}:\n${log}`);
  }
  console.log(`mammoth ${secs.toFixed(4)}`);
}

main().catch((e) => {
  console.error(`time-mirror: ${e.stack || e}`);
  if (mirror) mirror.kill('SIGKILL');
  process.exit(1);
});
