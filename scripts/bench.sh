#!/bin/sh
# `make bench` / `make bench-full`: runs every benchmark scenario on a release build, keeps the
# JSON lines of each in bench/results/*.jsonl, and writes bench/results/latest.json (one object,
# the format other tools read) and bench/results/report.md (tables and a plot).
# Usage: scripts/bench.sh BUILD_DIR USERS
set -eu
B="$1"
N="$2"
OUT=bench/results
mkdir -p "$OUT"
# the generated users of each size are written once and copied for every later benchmark and
# run (bench/bench_users.c); delete bench/results/cache to generate them afresh
export BENCH_USERS_CACHE="${BENCH_USERS_CACHE:-$OUT/cache}"
# Runs one benchmark: its JSON lines go to $OUT/NAME.jsonl (and are shown), its stderr to
# $OUT/NAME.log; a benchmark that fails (a wrong answer, nothing delivered…) stops the run.
run() {
    name="$1"
    shift
    echo "bench: $name" >&2
    if ! "$@" >"$OUT/$name.jsonl" 2>"$OUT/$name.log"; then
        cat "$OUT/$name.jsonl"
        tail -20 "$OUT/$name.log" >&2
        echo "bench: $name failed (whole log: $OUT/$name.log)" >&2
        exit 1
    fi
    cat "$OUT/$name.jsonl"
}

# BENCH_REPORT_ONLY=1: only rebuild latest.json and report.md from the kept JSON lines
if [ -z "${BENCH_REPORT_ONLY:-}" ]; then
# start-up to serving and resident bytes per user, with the bytes of each index per user
run startup "$B/bench_startup" "$B/cohortd" "$N" 3
run import "$B/bench_import" "$B/cohortd" "$N" 2000
run isolation "$B/bench_isolation" "$B/cohortd" "$N" 1000 3000
run ceiling "$B/bench_ceiling" "$B/cohortd" "$N" 2000
run postgres "$B/bench_pg" "$N" 400
# The PostgreSQL-store scenarios generate their users into PostgreSQL one row at a time (the
# users are the store's own rows, written through it): at most 1 M of them, the size issue 14's
# figures are defined at, so that `make bench-full` stays within the hour. PG_N is that size.
PG_N=$(( N < 1000000 ? N : 1000000 ))
# the same import on the PostgreSQL store, beside a throwaway server (COHORTD_STORE reaches
# init, serve and the user generation of bench_import). Its imports commit split: COMMIT is
# sent and the next import begins on another connection while PostgreSQL flushes (grouping
# the flushes in flight), and the answer waits for the flush; at 16-32 clients more than the
# default 4 writes can still queue behind the writer and be shed (429): here 64 may queue for up
# to 10 s, so every level is measured whole.
run pg_store sh tests/pg/with-pg.sh sh -c \
    'COHORTD_STORE="$COHORTD_TEST_PG_URL" COHORTD_MAX_QUEUED_WRITES=64 \
     COHORTD_QUEUE_TIMEOUT_MS=10000 exec "$@"' sh \
    "$B/bench_import" "$B/cohortd" "$PG_N" 2000
# two nodes on one PostgreSQL database: imports straight to the owner and forwarded by the
# other node, then the take-over after kill -9 of the owner (lease 2 s)
run pg_nodes sh tests/pg/with-pg.sh sh -c \
    'COHORTD_STORE="$COHORTD_TEST_PG_URL" COHORTD_MAX_QUEUED_WRITES=64 \
     COHORTD_QUEUE_TIMEOUT_MS=10000 exec "$@"' sh \
    "$B/bench_nodes" "$B/cohortd" "$PG_N" 800 8
run segments "$B/bench_segments" "$N"
# the DuckDB baseline of the same segments (same users and memberships, two layouts)
[ -f bench/duckdb/node_modules/.package-lock.installed ] || sh scripts/install-deps.sh bench
run duckdb sh -c 'cd bench/duckdb && exec node segments.mjs "$1"' sh "$N"
run currents "$B/bench_currents" "$B/cohortd" 300000
# three exports on one server: the figures are their medians (a loaded machine is noisy)
run export "$B/bench_export" "$B/cohortd" "$N" 3
run campaigns "$B/bench_campaigns" "$B/cohortd" 100000
fi

model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
cat "$OUT"/startup.jsonl "$OUT"/import.jsonl "$OUT"/isolation.jsonl "$OUT"/ceiling.jsonl "$OUT"/postgres.jsonl \
    "$OUT"/segments.jsonl "$OUT"/duckdb.jsonl "$OUT"/currents.jsonl "$OUT"/export.jsonl "$OUT"/campaigns.jsonl | jq -s --arg model "$model" --argjson cores "$(nproc)" --slurpfile pgstore "$OUT/pg_store.jsonl" --slurpfile pgnodes "$OUT/pg_nodes.jsonl" '
  def one(s): map(select(.scenario == s))[0];
  def all(s): map(select(.scenario == s));
  def phase(p): map(select(.scenario == "isolation" and .phase == p))[0];
  . as $r | {
    machine: {cores: $cores, model: $model},
    users: one("import_best").users,
    import: {
      cohortd_ids_per_s: one("import_best").cohortd_ids_per_s,
      ceiling_ids_per_s: one("ceiling").ceiling_ids_per_s,
      postgres_ids_per_s: one("postgres_import_best").postgres_ids_per_s,
      pg_store_ids_per_s: ($pgstore | map(select(.scenario == "import_best"))[0].cohortd_ids_per_s),
      pg_store_users: ($pgstore | map(select(.scenario == "import_best"))[0].users),
      pg_store_ratio_vs_postgres: (($pgstore | map(select(.scenario == "import_best"))[0].cohortd_ids_per_s) / one("postgres_import_best").postgres_ids_per_s),
      p50_ms: one("import_best").p50_ms,
      p99_ms: one("import_best").p99_ms,
      concurrency: one("import_best").concurrency,
      ratio_vs_postgres: (one("import_best").cohortd_ids_per_s / one("postgres_import_best").postgres_ids_per_s),
      ratio_vs_ceiling: (one("import_best").cohortd_ids_per_s / one("ceiling").ceiling_ids_per_s),
      cohortd_levels: all("import"),
      postgres_levels: all("postgres_import")
    },
    isolation: {alone: phase("alone"), under_load: phase("under_load")},
    segments: [all("segment")[] as $s
      | ($r | map(select(.scenario == "postgres_segment" and .name == $s.name))[0]) as $p
      | ($r | map(select(.scenario == "sqlite_segment" and .name == $s.name))[0]) as $q
      | ($r | map(select(.scenario == "duckdb_segment" and .name == $s.name and .layout == "membership"))[0]) as $dm
      | ($r | map(select(.scenario == "duckdb_segment" and .name == $s.name and .layout == "wide"))[0]) as $dw
      | ([$dm.ms, $dw.ms] | map(select(. != null)) | min) as $dbest
      | {name: $s.name, cohortd_p50_ms: $s.cohortd_p50_ms, cohortd_p99_ms: $s.cohortd_p99_ms,
         cohortd_cpu_p99_ms: $s.cohortd_cpu_p99_ms,
         cohortd_paced_p50_ms: $s.cohortd_paced_p50_ms, cohortd_paced_p99_ms: $s.cohortd_paced_p99_ms,
         postgres_ms: $p.postgres_ms, sqlite_ms: $q.sqlite_ms,
         duckdb_membership_ms: $dm.ms, duckdb_membership_p99_ms: $dm.p99_ms,
         duckdb_wide_ms: $dw.ms, duckdb_wide_p99_ms: $dw.p99_ms, duckdb_best_ms: $dbest,
         size: $s.size,
         ratio_vs_postgres: (if $p then $p.postgres_ms / $s.cohortd_p99_ms else null end),
         ratio_vs_duckdb_best: (if $dbest then $dbest / $s.cohortd_p99_ms else null end),
         ratio_vs_duckdb_best_paced: (if $dbest and $s.cohortd_paced_p99_ms then $dbest / $s.cohortd_paced_p99_ms else null end),
         sizes_agree: (if $p and $dm and $dw then $s.size == $p.size and $s.size == $q.size and $s.size == $dm.size and $s.size == $dw.size else null end)}],
    memory: {
      bytes_per_user: (one("startup").rss_bytes / one("startup").users),
      bytes_per_membership: one("memory").bytes_per_membership,
      startup_s: one("startup").startup_s,
      startup_cpu_s: one("startup").startup_cpu_s,
      startup_min_s: one("startup").startup_min_s,
      startup_max_s: one("startup").startup_max_s,
      startup_full_s: one("startup").startup_full_s,
      startup_snapshot_s: one("startup").startup_snapshot_s,
      startup_snapshot_cpu_s: one("startup").startup_snapshot_cpu_s,
      snapshot_bytes: one("startup").snapshot_bytes,
      startup_after_changes_s: one("startup_after_changes").startup_s,
      startup_after_changes_cpu_s: one("startup_after_changes").startup_cpu_s,
      startup_after_changes_load: one("startup_after_changes").load,
      startup_changes: one("startup_after_changes").changes,
      breakdown_bytes_per_user: (one("startup_breakdown") | del(.scenario, .users))
    },
    nodes: {
      direct: ($pgnodes | map(select(.scenario == "nodes_import" and .via == "direct")) | last),
      forwarded: ($pgnodes | map(select(.scenario == "nodes_import" and .via == "forwarded"))[0]),
      takeover: ($pgnodes | map(select(.scenario == "takeover"))[0])
    },
    currents: {events_per_s: one("currents").events_per_s, write_s: one("currents").write_s,
               delivery_events_per_s: one("currents").delivery_events_per_s,
               delivery_startup_s: one("currents").delivery_startup_s},
    export: {users_per_s: one("export").users_per_s, exported: one("export").exported,
             runs_users_per_s: one("export").runs_users_per_s,
             first_byte_s: one("export").first_byte_s, server_cpu_s: one("export").server_cpu_s,
             client_cpu_s: one("export").client_cpu_s,
             server_wait_s: one("export").server_wait_s},
    campaigns: {sends_per_s: one("campaign_send").sends_per_s,
                audience: one("campaign_send").audience,
                baseline_requests_per_s: one("campaign_send").baseline_requests_per_s,
                ratio_vs_baseline: one("campaign_send").ratio_vs_baseline,
                fair_baseline_requests_per_s: one("campaign_send").fair_baseline_requests_per_s,
                ratio_vs_fair_baseline: one("campaign_send").ratio_vs_fair_baseline,
                fair_baseline_cpu_s: one("campaign_send").fair_baseline_cpu_s,
                server_cpu_s: one("campaign_send").server_cpu_s,
                receiver_cpu_s: one("campaign_send").receiver_cpu_s,
                baseline_cpu_s: one("campaign_send").baseline_cpu_s}
  }' > "$OUT/latest.json"

# the import plot: ids/s by concurrency, cohortd against PostgreSQL
jq -r '.import.cohortd_levels[] | "\(.concurrency) \(.ids_per_s)"' "$OUT/latest.json" >"$OUT/import_cohortd.dat"
jq -r '.import.postgres_levels[] | "\(.concurrency) \(.ids_per_s)"' "$OUT/latest.json" >"$OUT/import_postgres.dat"
plot=""
if command -v gnuplot >/dev/null 2>&1; then
    gnuplot <<PLOT && plot="![import throughput](import.svg)"
set terminal svg size 640,360
set output "$OUT/import.svg"
set title "Partner cohort import, $N users, 1000-id requests"
set xlabel "concurrent clients"; set ylabel "ids per second"; set logscale y; set grid
set key left top
plot "$OUT/import_cohortd.dat" with linespoints title "cohortd (HTTP, durable)", \
     "$OUT/import_postgres.dat" with linespoints title "PostgreSQL (straightforward schema)"
PLOT
fi

# the segment plot: latency of each segment size by engine (cohortd p99, the others' p50 / best)
jq -r '.segments[] | select(.duckdb_best_ms != null) | "\"\(.name)\" \(.cohortd_p99_ms) \(.postgres_ms // "NaN") \(.sqlite_ms // "NaN") \(.duckdb_membership_ms // "NaN") \(.duckdb_wide_ms // "NaN")"' \
    "$OUT/latest.json" >"$OUT/segments_engines.dat"
segplot=""
if command -v gnuplot >/dev/null 2>&1; then
    gnuplot <<PLOT && segplot="![segment latency by engine](segments.svg)"
set terminal svg size 800,400
set output "$OUT/segments.svg"
set title "Exact segment size, $N users: latency by engine (log scale)"
set ylabel "ms"; set logscale y; set grid ytics
set style data histograms; set style histogram clustered gap 1; set style fill solid border -1
set boxwidth 0.9; set key left top; set xtics nomirror
plot "$OUT/segments_engines.dat" using 2:xtic(1) title "cohortd (p99)", \
     "" using 3 title "PostgreSQL", "" using 4 title "SQLite", \
     "" using 5 title "DuckDB, membership table (p50)", "" using 6 title "DuckDB, a row per user (p50)"
PLOT
fi

jq -r --arg plot "$plot" --arg segplot "$segplot" '
  "# cohortd benchmark report\n",
  "Machine: \(.machine.cores) cores, \(.machine.model). Users: \(.users).\n",
  "## Import (1000-id requests, durable acknowledgements)\n",
  "| | ids/s |", "|---|---|",
  "| cohortd over HTTP (best: concurrency \(.import.concurrency), p50 \(.import.p50_ms) ms, p99 \(.import.p99_ms) ms) | \(.import.cohortd_ids_per_s) |",
  "| in-process ceiling (core API, one thread, no HTTP/JSON) | \(.import.ceiling_ids_per_s) |",
  "| PostgreSQL, best concurrency | \(.import.postgres_ids_per_s) |",
  "| cohortd / PostgreSQL | \(.import.ratio_vs_postgres * 10 | round / 10)x |",
  "| cohortd over HTTP on the PostgreSQL store (\(.import.pg_store_users) users), best concurrency | \(.import.pg_store_ids_per_s) |",
  "| cohortd on the PostgreSQL store / PostgreSQL\(if .import.pg_store_users != .users then " (\(.import.pg_store_users) against \(.users) users)" else "" end) | \(.import.pg_store_ratio_vs_postgres * 10 | round / 10)x |",
  "",
  "Refused with 429 because the write queue was full (the default lets 4 writes wait; ids/s counts applied imports only): \([.import.cohortd_levels[] | select((.shed // 0) > 0) | "\(.shed) of \(.requests) at concurrency \(.concurrency)"] | if length == 0 then "none" else join(", ") end).",
  "", $plot, "",
  "## Workspace isolation\n",
  "Workspace B (\(.isolation.alone.b_users) users of its own) alternates one-user `/users/track` writes with exact segment previews, \(.isolation.alone.b_ops) of each per phase: alone, then while 4 clients import 1000-id requests into workspace A (\(.isolation.alone.users) users) at full speed. Targets: B write p99 at most 5 ms, B preview p99 at most 2 ms, under load too.\n",
  "| phase | B write p50 ms | B write p99 ms | B preview p50 ms | B preview p99 ms | A ids/s | within targets |",
  "|---|---|---|---|---|---|---|",
  (.isolation | to_entries[] | select(.value != null) | .value as $p | "| \(.key | sub("_"; " ")) | \($p.b_write_p50_ms) | \($p.b_write_p99_ms) | \($p.b_preview_p50_ms) | \($p.b_preview_p99_ms) | \(if $p.a_ids_per_s == 0 then "idle" else $p.a_ids_per_s end) | \(if $p.b_write_p99_ms <= 5 and $p.b_preview_p99_ms <= 2 then "yes" else "no" end) |"),
  "",
  "## Segment sizes\n",
  "| segment | size | cohortd p50 ms | cohortd p99 ms | PostgreSQL ms | SQLite ms | DuckDB membership table p50 ms | DuckDB row per user p50 ms | PostgreSQL / cohortd p99 | cohortd vs DuckDB best layout (its p50 / cohortd p99; target 20x) | cohortd paced p99 ms (each run after a 1 ms pause) | DuckDB best / cohortd paced p99 | sizes agree (all four engines) |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  (.segments[] | "| \(.name) | \(.size) | \(.cohortd_p50_ms) | \(.cohortd_p99_ms) | \(.postgres_ms) | \(.sqlite_ms) | \(.duckdb_membership_ms) | \(.duckdb_wide_ms) | \(if .ratio_vs_postgres then "\(.ratio_vs_postgres | round)x" else "no baseline" end) | \(if .ratio_vs_duckdb_best then "\(.ratio_vs_duckdb_best | round)x" else "no baseline" end) | \(.cohortd_paced_p99_ms) | \(if .ratio_vs_duckdb_best_paced then "\(.ratio_vs_duckdb_best_paced | round)x" else "no baseline" end) | \(.sizes_agree) |"),
  "", $segplot,
  "\n## Memory and start-up\n",
  "| | |", "|---|---|",
  "| resident bytes per user after start-up | \(.memory.bytes_per_user | round) |",
  "| bitmap bytes per membership | \(.memory.bytes_per_membership) |",
  "| start-up to serving (median of 3; min \(.memory.startup_min_s), max \(.memory.startup_max_s)) | \(.memory.startup_s) s |",
  "| server CPU by then | \(.memory.startup_cpu_s) s |",
  "| … first start, whole store read (no snapshot yet) | \(.memory.startup_full_s) s |",
  "| … later starts, from the start-up snapshot (median) | \(.memory.startup_snapshot_s) s (server CPU \(.memory.startup_snapshot_cpu_s) s; file \(.memory.snapshot_bytes) bytes) |",
  "| … start after \(.memory.startup_changes) user changes since the snapshot (`/users/track`) | \(.memory.startup_after_changes_s) s (server CPU \(.memory.startup_after_changes_cpu_s) s; \(.memory.startup_after_changes_load) load) |",
  "\nWhat a user costs after start-up, bytes per user (GET /metrics `cohortd_workspace_index_bytes`; other = resident set minus the indexes: code, libraries, SQLite page cache, malloc slack):\n",
  "| part | bytes per user |", "|---|---|",
  (.memory.breakdown_bytes_per_user // {} | to_entries[] | "| \(.key) | \(.value) |"),
  "\n## Several nodes on one PostgreSQL\n",
  "Two nodes, \(.nodes.takeover.users // "-") users, 1000-id imports at concurrency \(.nodes.direct.concurrency // "-"): straight to the owner \(.nodes.direct.ids_per_s // "-") ids/s (p99 \(.nodes.direct.p99_ms // "-") ms), through the other node (forwarded) \(.nodes.forwarded.ids_per_s // "-") ids/s (p99 \(.nodes.forwarded.p99_ms // "-") ms). kill -9 of the owner: the other node serves the workspace after \(.nodes.takeover.takeover_s // "-") s (lease \(.nodes.takeover.lease_s // "-") s; target at most 10 s at 1 M users).",
  "\n## Currents\n",
  "Delivered to a loopback sink at batch size 1000, from the store (every event written before the server starts; start-up of \(.currents.delivery_startup_s) s included): \(.currents.delivery_events_per_s) events/s.",
  "While serving (the earlier figure: from the bench'"'"'s first outbox write, \(.currents.write_s) s of writes by the bench, to the last event received): \(.currents.events_per_s) events/s.",
  "\n## Segment export\n",
  "NDJSON over HTTP: \(.export.exported) users at \(.export.users_per_s) users/s (median of \(.export.runs_users_per_s // [] | length) exports: \(.export.runs_users_per_s // [] | map(tostring) | join(", "))); first byte after \(.export.first_byte_s // "-") s. CPU spent on it: server \(.export.server_cpu_s // "-") s, client \(.export.client_cpu_s // "-") s; the server waited \(.export.server_wait_s // "-") s for a CPU (the machine'"'"'s other work).",
  "\n## Webhook campaign\n",
  "An immediate campaign to \(.campaigns.audience) users, one personalised request each to a loopback receiver, every outcome recorded with its Send event: \(.campaigns.sends_per_s) sends/s. Plain libcurl at the same concurrency sending the same requests (each member'"'"'s URL and body, the same header lines, proxy variables honoured): \(.campaigns.fair_baseline_requests_per_s // "-") requests/s (cohortd \(.campaigns.ratio_vs_fair_baseline // "-")x; target 0.8x); the earlier baseline (one fixed URL and body, default headers, proxies off): \(.campaigns.baseline_requests_per_s) requests/s (\(.campaigns.ratio_vs_baseline)x). CPU for the sends: server \(.campaigns.server_cpu_s // "-") s, receiver \(.campaigns.receiver_cpu_s // "-") s; for the fair baseline (client and receiver): \(.campaigns.fair_baseline_cpu_s // "-") s, the earlier one \(.campaigns.baseline_cpu_s // "-") s."
' "$OUT/latest.json" >"$OUT/report.md"
echo "bench: wrote $OUT/latest.json and $OUT/report.md" >&2
