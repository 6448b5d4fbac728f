'use strict';
// The readings of issue 26, exactly as crates/server/benches/tap_filter.rs
// generates them: reading i is taken at 2024-01-01T00:00:00Z + floor(i/5)
// minutes by sensor SERIALS[i % 5] (so key order is time order), with a
// temperature in tenths of a degree from mulberry32 seeded with 26:
//   key   reading/<iso-time>_<serial>
//   value {"ts":"<iso-time>","serial":"<serial>","reading":21.5}
//
// As a command:
//   node readings.js threshold M [X]
// prints "X COUNT": the X for which about 1 % of the first M readings have
// reading > X (or the X given), and how many readings are above it.

const SERIALS = ['28-0000055ab2e1', '28-000005e2fdc3', '28-0000061b7e0a',
  '28-00000620c1e4', '28-000006bd5f13'];
const START_MS = Date.UTC(2024, 0, 1);
const SEED = 26;

function mulberry32(seed) {
  let a = seed | 0;
  return () => {
    a = (a + 0x6D2B79F5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function tenthsText(t) {
  return `${Math.floor(t / 10)}.${t % 10}`;
}

// Calls each(i, key, ts, serial, tenths) for the first m readings, in order.
function forEach(m, each) {
  const next = mulberry32(SEED);
  let ts = '';
  for (let i = 0; i < m; i++) {
    if (i % 5 === 0) {
      ts = new Date(START_MS + Math.floor(i / 5) * 60000).toISOString().replace('.000Z', 'Z');
    }
    const serial = SERIALS[i % 5];
    const tenths = 120 + (next() % 50) + (next() % 50) + (next() % 50);
    each(i, `reading/${ts}_${serial}`, ts, serial, tenths);
  }
}

// The mammoth value of a reading (bytes as the Rust bench writes them).
function valueText(ts, serial, tenths) {
  return `{"ts":"${ts}","serial":"${serial}","reading":${tenthsText(tenths)}}`;
}

// [X in tenths, count above it]: the threshold nearest 1 % of m, or the
// given one.
function threshold(m, givenTenths) {
  const hist = [];
  forEach(m, (i, k, ts, s, t) => { hist[t] = (hist[t] || 0) + 1; });
  const want = Math.floor(m / 100);
  let above = 0;
  let best = [hist.length, 0];
  for (let t = hist.length - 1; t >= 0; t--) {
    if (givenTenths === undefined) {
      if (Math.abs(above - want) < Math.abs(best[1] - want)) best = [t, above];
    } else if (t === givenTenths) {
      return [t, above];
    }
    above += hist[t] || 0;
  }
  return givenTenths === undefined ? best : [givenTenths, above];
}

function parseTenths(x) {
  const m = /^(\d+)(?:\.(\d))?$/.exec(x);
  if (!m) throw new Error(`X must be a number with at most one decimal, not ${x}`);
  return Number(m[1]) * 10 + Number(m[2] || 0);
}

module.exports = { forEach, valueText, threshold, tenthsText, parseTenths };

if (require.main === module) {
  const [cmd, m, x] = process.argv.slice(2);
  if (cmd !== 'threshold' || !m) {
    console.error('usage: node readings.js threshold M [X]');
    process.exit(2);
  }
  const [t, count] = threshold(Number(m), x === undefined || x === '' ? undefined : parseTenths(x));
  console.log(`${tenthsText(t)} ${count}`);
}
