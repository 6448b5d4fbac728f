'use strict';
// PouchDB's filtered replication, the peer of scripts/bench-filter:
//   node replicate.js M X ROUNDS
// loads the first M readings (readings.js) into an in-memory PouchDB 9
// (pouchdb-core + pouchdb-adapter-memory + pouchdb-replication) as
// {_id: key, ts, serial, reading}, then, ROUNDS times, replicates it into a
// new empty in-memory database with the Mango selector {reading: {$gt: X}}
// and times PouchDB.replicate(...) from the call to its completion.
// PouchDB's default replication batches (batch_size 100) unless
// POUCH_BATCH_SIZE is set. Checks the docs written against the generator.
// Prints one line per round and "pouchdb median S" last.

const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-replication'));
const readings = require('./readings.js');

async function main() {
  const [m, x, rounds] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4] || 1)];
  if (!(m > 0) || !x) {
    console.error('usage: node replicate.js M X [ROUNDS]');
    process.exit(2);
  }
  const [xTenths, expected] = readings.threshold(m, readings.parseTenths(x));
  const xValue = xTenths / 10;

  const source = new PouchDB('readings', { adapter: 'memory' });
  let t0 = process.hrtime.bigint();
  let docs = [];
  const pending = [];
  readings.forEach(m, (i, key, ts, serial, tenths) => {
    docs.push({ _id: key, ts, serial, reading: tenths / 10 });
    if (docs.length === 10000) {
      pending.push(docs);
      docs = [];
    }
  });
  if (docs.length) pending.push(docs);
  for (const batch of pending) {
    const res = await source.bulkDocs(batch);
    const bad = res.find((r) => r.error);
    if (bad) throw new Error(`bulkDocs: ${JSON.stringify(bad)}`);
  }
  pending.length = 0;
  const loadSecs = Number(process.hrtime.bigint() - t0) / 1e9;
  const info = await source.info();
  console.log(`pouchdb: loaded ${info.doc_count} docs in ${loadSecs.toFixed(1)} s (bulkDocs of 10,000, in memory)`);
  if (info.doc_count !== m) throw new Error(`source holds ${info.doc_count} docs, not ${m}`);

  const options = { selector: { reading: { $gt: xValue } } };
  if (process.env.POUCH_BATCH_SIZE) options.batch_size = Number(process.env.POUCH_BATCH_SIZE);
  const times = [];
  for (let round = 1; round <= rounds; round++) {
    const target = new PouchDB(`target-${round}`, { adapter: 'memory' });
    t0 = process.hrtime.bigint();
    const result = await PouchDB.replicate(source, target, options);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const held = (await target.info()).doc_count;
    if (result.docs_written !== expected || held !== expected) {
      throw new Error(`round ${round}: ${result.docs_written} docs written, ${held} held; expected ${expected}`);
    }
    console.log(`pouchdb round ${round}: replicate with selector {reading: {$gt: ${xValue}}}: `
      + `${secs.toFixed(2)} s, ${result.docs_read} docs read, ${result.docs_written} written`);
    times.push(secs);
    await target.destroy();
  }
  times.sort((a, b) => a - b);
  console.log(`pouchdb median ${times[Math.floor((times.length - 1) / 2)].toFixed(3)}`);
}

main().catch((e) => {
  console.error(`pouchdb: ${e.stack || e}`);
  process.exit(1);
});
