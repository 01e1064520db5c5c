// segments.mjs — the DuckDB baseline of bench_segments: the same N users (uid 1..N), the same
// 20 cohorts and the same 3-valued "plan" attribute, drawn with the same xorshift32 generator and
// seed (user u takes the u-th draw s: plan s % 3, cohort k when (s >> (k % 8)) % (k + 2) == 0),
// loaded into an in-memory DuckDB in two layouts:
//   membership  a table membership(cohort, uid) and users(uid, plan), the straightforward schema
//   wide        one row per user, users_wide(uid, plan, c0 … c19) with a boolean per cohort
//               (DuckDB's best case: a segment is a scan of a few boolean columns)
// then times the four segments of bench_segments in both (RUNS runs each after one warm-up) and
// prints one JSON line per (layout, segment):
//   {"scenario":"duckdb_segment","layout":…,"name":…,"ms":p50,"p99_ms":…,"runs":…,"size":…}
// plus a load line. DuckDB uses every core (its default).
//
// usage: node segments.mjs [USERS] [RUNS]
import { DuckDBDataChunk, DuckDBInstance, UINTEGER } from '@duckdb/node-api';

const n = Number(process.argv[2] ?? 10000000);
const runs = Number(process.argv[3] ?? 7);
const N_COHORTS = 20;
const now = () => Number(process.hrtime.bigint()) / 1e6;

const instance = await DuckDBInstance.create(':memory:');
const con = await instance.connect();

// the generator's draws in user order, appended a chunk at a time; user u is row u - 1, and
// the tables are derived from the draws in SQL
const t0 = now();
await con.run('CREATE TABLE raw (s UINTEGER)');
const app = await con.createAppender('raw');
const CHUNK = 2048;
const chunk = DuckDBDataChunk.create([UINTEGER], CHUNK);
let col = new Array(CHUNK);
let s = 88172645;
for (let u = 1, i = 0; u <= n; u++) {
  s = (s ^ (s << 13)) >>> 0;
  s = (s ^ (s >>> 17)) >>> 0;
  s = (s ^ (s << 5)) >>> 0;
  col[i++] = s;
  if (i === CHUNK || u === n) {
    chunk.setColumns([i === CHUNK ? col : col.slice(0, i)]);
    app.appendDataChunk(chunk);
    i = 0;
  }
}
app.closeSync();
await con.run('CREATE TABLE draws AS SELECT (rowid + 1)::UINTEGER AS uid, s FROM raw');
await con.run('DROP TABLE raw');
const plan = "['free', 'trial', 'pro'][s % 3 + 1]";
const cols = [];
for (let k = 0; k < N_COHORTS; k++) cols.push(`(s >> ${k % 8}) % ${k + 2} = 0 AS c${k}`);
await con.run(`CREATE TABLE users AS SELECT uid, ${plan} AS plan FROM draws`);
await con.run(
  `CREATE TABLE membership AS SELECT 'c' || k AS cohort, uid FROM draws, range(${N_COHORTS}) t(k)
   WHERE (s >> (k % 8)::UINTEGER) % (k + 2)::UINTEGER = 0 ORDER BY cohort, uid`,
);
await con.run(`CREATE TABLE users_wide AS SELECT uid, ${plan} AS plan, ${cols.join(', ')} FROM draws`);
await con.run('DROP TABLE draws');
await con.run('CHECKPOINT');
const members = await con.runAndReadAll('SELECT count(*)::BIGINT FROM membership');
console.log(
  JSON.stringify({
    scenario: 'duckdb_load',
    users: n,
    memberships: Number(members.getRows()[0][0]),
    load_s: Number(((now() - t0) / 1000).toFixed(2)),
  }),
);

const segments = {
  'one cohort': {
    membership: "SELECT count(*) FROM membership WHERE cohort = 'c3'",
    wide: 'SELECT count(*) FROM users_wide WHERE c3',
  },
  'cohort and not cohort': {
    membership:
      "SELECT count(*) FROM membership a WHERE a.cohort = 'c0' AND NOT EXISTS " +
      "(SELECT 1 FROM membership b WHERE b.cohort = 'c1' AND b.uid = a.uid)",
    wide: 'SELECT count(*) FROM users_wide WHERE c0 AND NOT c1',
  },
  '3 filters with an attribute': {
    membership:
      "SELECT count(*) FROM membership a JOIN users u ON u.uid = a.uid WHERE a.cohort = 'c2' " +
      "AND u.plan = 'trial' AND NOT EXISTS (SELECT 1 FROM membership b WHERE b.cohort = 'c5' " +
      'AND b.uid = a.uid)',
    wide: "SELECT count(*) FROM users_wide WHERE c2 AND NOT c5 AND plan = 'trial'",
  },
  'or of 5 cohorts': {
    membership:
      "SELECT count(DISTINCT uid) FROM membership WHERE cohort IN ('c6', 'c7', 'c8', 'c9', 'c10')",
    wide: 'SELECT count(*) FROM users_wide WHERE c6 OR c7 OR c8 OR c9 OR c10',
  },
};

for (const layout of ['membership', 'wide']) {
  for (const [name, sql] of Object.entries(segments)) {
    let size = -1;
    const lat = [];
    for (let r = 0; r <= runs; r++) {
      const a = now();
      const res = await con.runAndReadAll(sql[layout]);
      const ms = now() - a;
      size = Number(res.getRows()[0][0]);
      if (r > 0) lat.push(ms); // the first run warms the caches
    }
    lat.sort((x, y) => x - y);
    const p99 = lat[Math.min(lat.length - 1, Math.floor((lat.length * 99) / 100))];
    console.log(
      JSON.stringify({
        scenario: 'duckdb_segment',
        layout,
        name,
        users: n,
        ms: Number(lat[Math.floor(lat.length / 2)].toFixed(3)),
        p99_ms: Number(p99.toFixed(3)),
        runs,
        size,
      }),
    );
  }
}
con.closeSync();
instance.closeSync();
