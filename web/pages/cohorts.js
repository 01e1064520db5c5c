// Cohorts: every imported cohort with its counters, and one cohort's details — unmatched
// sample with reasons, Heap sync history, and its size over time when the server keeps it.
import { get, q } from '../api.js';
import { fill, h, table, stat, errorNote, unavailable, when, pct, section } from '../ui.js';
import { lineChart } from '../chart.js';

export async function renderList(main) {
    const res = await get('/cohorts/list');
    if (!res.ok) return fill(main, h('h1', {}, 'Cohorts'), errorNote(res, 'Could not load the cohorts'));
    const rows = res.data.cohorts.map((c) => [
        c.partner,
        h('a', { href: `#/cohorts/${encodeURIComponent(c.partner)}/${encodeURIComponent(c.cohort_id)}` }, c.name),
        String(c.size), when(c.last_changed_at), String(c.ids_received), String(c.ids_matched), String(c.ids_unmatched),
        pct(c.ids_matched, c.ids_received)]);
    fill(main, h('h1', {}, 'Cohorts'),
        table('Imported cohorts', ['Partner', 'Name', 'Size', 'Last sync', 'IDs received', 'Matched', 'Unmatched', 'Match rate'],
            rows, { id: 'cohorts-table' }));
}

export async function renderDetails(main, [partner, cohortId]) {
    const res = await get(`/cohorts/details?${q({ partner, cohort_id: cohortId })}`);
    if (!res.ok) return fill(main, h('h1', {}, 'Cohort'), errorNote(res, 'Could not load the cohort'));
    const c = res.data;
    const chartBox = h('div', {}, 'Loading the size history…');
    fill(main, 
        h('p', {}, h('a', { href: '#/cohorts' }, '‹ All cohorts')),
        h('h1', {}, c.name),
        h('dl', { class: 'stats', id: 'cohort-stats' },
            stat('Partner', c.partner), stat('Cohort id', c.cohort_id), stat('Size', String(c.size), 'cohort-size'),
            stat('Last sync', when(c.last_changed_at)), stat('IDs received', String(c.ids_received), 'cohort-received'),
            stat('Matched', String(c.ids_matched), 'cohort-matched'), stat('Unmatched', String(c.ids_unmatched), 'cohort-unmatched'),
            stat('Match rate', pct(c.ids_matched, c.ids_received))),
        section('Size over time', chartBox),
        table('Unmatched sample', ['ID', 'Reason', 'When'], (c.unmatched_sample || []).map((u) => [u.id, u.reason, when(u.at)])),
        c.heap_syncs ? table('Heap sync history', ['Sync task', 'Pages', 'Started', 'Completed', 'IDs to add', 'IDs to remove'],
            c.heap_syncs.map((s) => [s.sync_task_id, `${s.pages_seen} / ${s.total_pages}`, when(s.started_at),
                when(s.completed_at), String(s.ids_to_add), String(s.ids_to_remove)])) : null);
    const series = await get(`/cohorts/data_series?${q({ partner, cohort_id: cohortId, length: 30 })}`);
    if (series.status === 404 && !(series.data.message || '').includes('cohort')) return fill(chartBox, unavailable('Cohort size history'));
    if (!series.ok) return fill(chartBox, errorNote(series, 'Could not load the size history'));
    const pts = (series.data.data || []).map((d) => ({ label: String(d.time).slice(5, 10), value: d.size }));
    fill(chartBox, pts.length ? lineChart(`Size of ${c.name} by day`, pts) : h('p', {}, 'No history yet.'));
}
