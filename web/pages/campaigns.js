// Campaigns and Canvases: the webhook campaign wizard (message, target, schedule, review,
// launch), the campaign list and details (targeted / sent / failed, archive), and Canvases
// with ordered steps and delays.
import { get, post, q } from '../api.js';
import { fill, h, field, select, table, errorNote, stat, section, when, toast, confirmDialog, unavailable } from '../ui.js';
import { seriesChart } from '../chart.js';

const METHODS = ['POST', 'GET', 'PUT', 'PATCH', 'DELETE'];

export async function renderList(main) {
    const [cres, vres] = await Promise.all([get('/campaigns/list'), get('/canvas/list')]);
    fill(main, h('h1', {}, 'Campaigns and Canvases'),
        h('p', { class: 'row' }, h('a', { href: '#/campaigns/new', class: 'button' }, 'New webhook campaign'),
            h('a', { href: '#/canvas/new', class: 'button' }, 'New Canvas')),
        cres.ok ? await campaignTable(cres.data.campaigns) : errorNote(cres, 'Could not load the campaigns'),
        vres.ok ? table('Canvases', ['Name', 'Schedule', 'Archived', 'Last edited'], vres.data.canvases.map((c) => [
            h('a', { href: `#/canvas/${encodeURIComponent(c.id)}` }, c.name), c.schedule_type, c.archived ? 'yes' : 'no', when(c.last_edited)]))
            : errorNote(vres, 'Could not load the Canvases'));
}

async function campaignTable(list) {
    const details = await Promise.all(list.map((c) => get(`/campaigns/details?${q({ campaign_id: c.id })}`)));
    return table('Campaigns', ['Name', 'Schedule', 'Targeted', 'Sent', 'Failed', 'Archived'], list.map((c, i) => {
        const d = details[i].ok ? details[i].data : {};
        return [h('a', { href: `#/campaigns/${encodeURIComponent(c.id)}` }, c.name), c.schedule_type,
            String(d.targeted ?? '—'), String(d.sends ?? '—'), String(d.failures ?? '—'), c.archived ? 'yes' : 'no'];
    }), { id: 'campaigns-table' });
}

function scheduleText(s) {
    if (!s) return '—';
    if (s.type === 'at') return `at ${when(s.time)}`;
    if (s.type === 'cohort_entry') return `when a user enters cohort ${s.partner}/${s.cohort_id}`;
    if (s.type === 'api_triggered') return 'when triggered through the API';
    return 'immediately';
}

// The newest failed deliveries with their reasons (GET /campaigns/failures, /canvas/failures).
async function failuresBox(kind, id) {
    const key = kind === 'canvas' ? 'canvas_id' : 'campaign_id';
    const res = await get(`/${kind}/failures?${q({ [key]: id, limit: 10 })}`);
    if (res.status === 404) return unavailable('The last failures with their reasons');
    if (!res.ok) return errorNote(res, 'Could not load the last failures');
    const canvas = kind === 'canvas';
    return table('Last failures (newest first)', canvas ? ['User', 'Step', 'Reason', 'Attempts', 'When'] : ['User', 'Reason', 'Attempts', 'When'],
        res.data.last_failures.map((f) => [f.external_id ?? '(no external_id)', ...(canvas ? [`${f.step}. ${f.step_name ?? ''}`] : []),
            h('span', { class: 'mono reason' }, f.reason), String(f.attempts), when(f.at)]), { id: `${kind}-failures` });
}

// Targeted, sent and failed per day (campaigns: GET /campaigns/data_series, Braze's
// [{time, messages: {webhook: [{sent, errors}]}, unique_recipients}]) or entries, sent and failed
// per day (Canvases: /canvas/data_series?include_step_breakdown=true, {data: {stats: [{time,
// total_stats: {entries}, step_stats: {STEP_ID: {name, messages: {webhook: [{sent, errors}]}}}}]}},
// sent and failed summed over the steps, and a table of each step's over the days), the last 14
// days. steps: the Canvas's steps in order ([{id, name}]).
const webhookSum = (d, k) => ((d && d.messages && d.messages.webhook) || []).reduce((a, m) => a + (m[k] || 0), 0);

async function seriesBox(path, id, what, steps) {
    const canvas = what === 'canvas_id';
    const res = await get(`${path}?${q({ [what]: id, length: 14, ...(canvas ? { include_step_breakdown: 'true' } : {}) })}`);
    if (res.status === 404) return unavailable('Sends over time');
    if (!res.ok) return errorNote(res, 'Could not load the sends over time');
    const day = (d) => String(d.time).slice(0, 10);
    if (Array.isArray(res.data.data)) {
        const rows = res.data.data;
        if (!rows.length) return h('p', {}, 'No sends yet.');
        // unique_recipients: the users the campaign targeted that day
        return h('div', { id: 'campaign-series' }, seriesChart('Targeted, sent and failed by day', rows.map(day), [
            { name: 'targeted', values: rows.map((d) => d.unique_recipients || 0), cls: 'targeted' },
            { name: 'sent', values: rows.map((d) => webhookSum(d, 'sent')), cls: 'sent' },
            { name: 'failed', values: rows.map((d) => webhookSum(d, 'errors')), cls: 'failed' }]));
    }
    const rows = (res.data.data && res.data.data.stats) || [];
    if (!rows.length) return h('p', {}, 'No entries yet.');
    const overSteps = (d, k) => Object.values(d.step_stats || {}).reduce((a, st) => a + webhookSum(st, k), 0);
    const overDays = (stepId, k) => rows.reduce((a, d) => a + webhookSum((d.step_stats || {})[stepId], k), 0);
    return h('div', { id: 'canvas-series' },
        seriesChart('Entries, sent and failed by day', rows.map(day), [
            { name: 'entries', values: rows.map((d) => (d.total_stats && d.total_stats.entries) || 0), cls: 'targeted' },
            { name: 'sent', values: rows.map((d) => overSteps(d, 'sent')), cls: 'sent' },
            { name: 'failed', values: rows.map((d) => overSteps(d, 'errors')), cls: 'failed' }]),
        table(`Sent and failed by step (${rows.length} days)`, ['#', 'Step', 'Sent', 'Failed'], (steps || []).map((st, i) => [
            String(i + 1), st.name, String(overDays(st.id, 'sent')), String(overDays(st.id, 'errors'))]), { id: 'canvas-step-stats' }));
}

export async function renderDetails(main, [id], ctx) {
    const res = await get(`/campaigns/details?${q({ campaign_id: id })}`);
    if (!res.ok) return fill(main, h('h1', {}, 'Campaign'), errorNote(res, 'Could not load the campaign'));
    const d = res.data;
    const statsBox = h('dl', { class: 'stats', id: 'campaign-stats' });
    const failBox = h('div', {});
    let shownFailures = -1;
    const drawStats = async (x) => {
        fill(statsBox, stat('Audience now', String(x.audience_size ?? 'segment gone'), 'campaign-audience'),
            stat('Targeted', String(x.targeted), 'campaign-targeted'), stat('Sent', String(x.sends), 'campaign-sent'),
            stat('Failed', String(x.failures), 'campaign-failed'));
        if (x.failures !== shownFailures) {
            shownFailures = x.failures;
            fill(failBox, await failuresBox('campaigns', id));
        }
    };
    await drawStats(d);
    const msg = Object.values(d.messages || {})[0] || {};
    const seg = await get(`/segments/details?${q({ segment_id: d.segment_id })}`);
    fill(main, 
        h('p', {}, h('a', { href: '#/campaigns' }, '‹ All campaigns')),
        h('h1', {}, d.name, d.archived ? ' (archived)' : ''),
        statsBox,
        h('p', {}, `Sent ${scheduleText(d.schedule)} to segment `,
            h('a', { href: `#/segments/${encodeURIComponent(d.segment_id)}` }, seg.ok ? seg.data.name : d.segment_id),
            d.rate_limit_per_minute ? `, at most ${d.rate_limit_per_minute} a minute` : ''),
        section('Message', h('p', { class: 'mono' }, `${msg.method || 'POST'} ${msg.url || ''}`),
            msg.headers && Object.keys(msg.headers).length ? table('Headers', ['Name', 'Value'], Object.entries(msg.headers)) : null,
            msg.body ? h('pre', { class: 'mono' }, msg.body) : null),
        section('Targeted, sent and failed over time', await seriesBox('/campaigns/data_series', id, 'campaign_id')),
        section('Failures', failBox),
        d.archived ? null : h('button', {
            type: 'button',
            class: 'danger',
            onclick: async () => {
                if (!(await confirmDialog('Archive this campaign?', 'Sends still queued stop; nothing more is sent to this segment.', 'Archive'))) return;
                const r = await post('/campaigns/archive', { campaign_id: id });
                if (!r.ok) return main.prepend(errorNote(r, 'Could not archive'));
                toast('Campaign archived');
                location.hash = '#/campaigns';
            },
        }, 'Archive campaign'));
    ctx.every(1000, async () => {
        const r = await get(`/campaigns/details?${q({ campaign_id: id })}`);
        if (r.ok) await drawStats(r.data);
    });
}

// ---- shared pieces of the campaign wizard and the Canvas form ----

function webhookEditor(state) {
    const url = h('input', { type: 'url', required: true, value: state.url, class: 'mono' });
    url.addEventListener('input', () => { state.url = url.value; });
    const method = select(METHODS, state.method);
    method.addEventListener('change', () => { state.method = method.value; });
    const body = h('textarea', { rows: 5, class: 'mono' }, state.body);
    body.addEventListener('input', () => { state.body = body.value; });
    const headerRows = h('div', {});
    const drawHeaders = () => fill(headerRows, ...state.headers.map((hd, i) => {
        const n = h('input', { type: 'text', value: hd.name });
        n.addEventListener('input', () => { hd.name = n.value; });
        const v = h('input', { type: 'text', value: hd.value, class: 'mono' });
        v.addEventListener('input', () => { hd.value = v.value; });
        return h('div', { class: 'row' }, field(`Header ${i + 1} name`, n), field(`Header ${i + 1} value`, v),
            h('button', { type: 'button', 'aria-label': `Remove header ${i + 1}`, onclick: () => { state.headers.splice(i, 1); drawHeaders(); } }, 'Remove'));
    }));
    drawHeaders();
    return h('div', {},
        field('Webhook URL', url, 'Liquid works here: {{${user_id}}}, {{custom_attribute.${plan}}}; each tag is URL-encoded.'),
        field('HTTP method', method),
        h('fieldset', {}, h('legend', {}, 'Headers'), headerRows,
            h('button', { type: 'button', onclick: () => { state.headers.push({ name: '', value: '' }); drawHeaders(); } }, 'Add header')),
        field('Request body', body, 'Liquid, e.g. {"name":"{{${first_name} | default: \'there\'}}"}'));
}

function webhookOf(state) {
    const w = { url: state.url, method: state.method };
    const headers = {};
    for (const hd of state.headers) if (hd.name) headers[hd.name] = hd.value;
    if (Object.keys(headers).length) w.headers = headers;
    if (state.body) w.body = state.body;
    return w;
}

async function segmentPicker(state, sizeId) {
    const res = await get('/segments/list');
    const segs = res.ok ? res.data.segments : [];
    if (!state.segment_id && segs[0]) state.segment_id = segs[0].id;
    const sel = select(segs.map((s) => [s.id, s.name]), state.segment_id, { id: 'campaign-segment' });
    const size = h('output', { id: sizeId, 'aria-live': 'polite' }, '—');
    const desc = h('p', { class: 'description' });
    const load = async () => {
        state.segment_id = sel.value;
        if (!sel.value) return;
        const d = await get(`/segments/details?${q({ segment_id: sel.value })}`);
        if (!d.ok) return fill(size, errorNote(d, 'Could not load the segment'));
        state.segment_name = d.data.name;
        state.segment_size = d.data.size;
        size.textContent = `${d.data.size} ${d.data.size === 1 ? 'user' : 'users'}`;
        desc.textContent = d.data.description;
    };
    sel.addEventListener('change', load);
    await load();
    return h('div', {}, segs.length ? field('Segment', sel) : h('p', {}, 'No segments yet: ', h('a', { href: '#/segments/new' }, 'build one')),
        h('p', {}, 'Audience size: ', size), desc);
}

async function scheduleEditor(state) {
    const cres = await get('/cohorts/list');
    const cohorts = cres.ok ? cres.data.cohorts : [];
    const types = [['immediate', 'Now: send to everyone in the segment at launch'], ['at', 'At a time'],
        ['api_triggered', 'API-triggered (POST /campaigns/trigger/send)'], ['cohort_entry', 'On cohort entry: when an import adds a user to a cohort']];
    const at = h('input', { type: 'datetime-local', value: state.at || '' });
    at.addEventListener('input', () => { state.at = at.value; });
    const cohort = select(cohorts.map((c) => [`${c.partner}\u0000${c.cohort_id}`, `${c.name} (${c.partner})`]), state.cohort || '');
    cohort.addEventListener('change', () => { state.cohort = cohort.value; });
    if (!state.cohort && cohorts[0]) state.cohort = cohort.value;
    const extra = h('div', {});
    const drawExtra = () => fill(extra, state.type === 'at' ? field('Send at (your local time)', at)
        : state.type === 'cohort_entry' ? (cohorts.length ? field('Cohort', cohort) : h('p', {}, 'No cohorts imported yet.')) : '');
    const radios = types.map(([v, text]) => {
        const r = h('input', { type: 'radio', name: 'schedule', value: v, checked: state.type === v, id: `schedule-${v}` });
        r.addEventListener('change', () => { state.type = v; drawExtra(); });
        return h('div', { class: 'field check' }, r, h('label', { for: r.id }, text));
    });
    drawExtra();
    return h('fieldset', {}, h('legend', {}, 'When to send'), radios, extra);
}

function scheduleOf(s) {
    if (s.type === 'at') return { type: 'at', time: s.at ? new Date(s.at).toISOString().replace(/\.\d{3}Z$/, 'Z') : '' };
    if (s.type === 'cohort_entry') {
        const [partner, cohortId] = (s.cohort || '').split('\u0000');
        return { type: 'cohort_entry', partner, cohort_id: cohortId };
    }
    return { type: s.type };
}

// ---- the campaign wizard ----

export async function renderWizard(main, _params, ctx) {
    const state = {
        name: '', url: '', method: 'POST', headers: [], body: '', segment_id: ctx.query.get('segment') || '',
        schedule: { type: 'immediate' }, rate: '',
    };
    const steps = ['Message', 'Target', 'Schedule', 'Review'];
    let step = 0;
    const body = h('div', {});
    const progress = h('ol', { class: 'steps', 'aria-label': 'Steps' });
    const msg = h('div', { 'aria-live': 'polite' });

    async function draw() {
        fill(progress, ...steps.map((s, i) => h('li', i === step ? { 'aria-current': 'step' } : {}, `${i + 1}. ${s}`)));
        fill(msg, );
        const nav = h('div', { class: 'row' },
            step > 0 ? h('button', { type: 'button', onclick: () => { step -= 1; draw(); } }, 'Back') : null,
            step < steps.length - 1 ? h('button', { type: 'submit' }, 'Next') : h('button', { type: 'submit', id: 'campaign-launch' }, 'Launch campaign'));
        let content;
        if (step === 0) content = messageStep();
        else if (step === 1) content = await segmentPicker(state, 'campaign-segment-size');
        else if (step === 2) content = h('div', {}, await scheduleEditor(state.schedule), rateField());
        else content = review();
        fill(body, h('h2', {}, steps[step]), content, nav);
        const first = body.querySelector('input, select, textarea');
        if (first) first.focus();
    }

    function rateField() {
        const r = h('input', { type: 'number', min: 1, value: state.rate });
        r.addEventListener('input', () => { state.rate = r.value; });
        return field('Rate limit (sends a minute, empty for none)', r);
    }

    function messageStep() {
        const name = h('input', { type: 'text', required: true, value: state.name, id: 'campaign-name' });
        name.addEventListener('input', () => { state.name = name.value; });
        const user = h('input', { type: 'text', id: 'preview-user' });
        const out = h('div', { 'aria-live': 'polite', id: 'preview-result' });
        const tryCall = async (path, what) => {
            if (!user.value) return fill(out, h('p', { class: 'error' }, 'Enter a user\'s external_id first.'));
            const r = await post(path, { message: { webhook: webhookOf(state) }, external_id: user.value });
            if (r.status === 404 && !/user/.test(r.data.message || '')) return fill(out, unavailable(what));
            if (!r.ok) return fill(out, errorNote(r, what));
            if (r.data.webhook) {
                const w = r.data.webhook;
                fill(out, h('pre', { class: 'mono' }, `${w.method} ${w.url}\n${Object.entries(w.headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${w.body || ''}`));
            } else fill(out, h('p', {}, `Test sent: the endpoint answered ${r.data.status}.`));
        };
        return h('div', {}, field('Campaign name', name), webhookEditor(state),
            section('Preview for a user', field('User (external_id)', user),
                h('div', { class: 'row' },
                    h('button', { type: 'button', onclick: () => tryCall('/campaigns/preview', 'Rendered preview') }, 'Preview'),
                    h('button', { type: 'button', onclick: () => tryCall('/campaigns/test_send', 'Test send') }, 'Send a test to this user')),
                out));
    }

    function definition() {
        const def = { name: state.name, segment_id: state.segment_id, message: { webhook: webhookOf(state) }, schedule: scheduleOf(state.schedule) };
        if (state.rate) def.rate_limit_per_minute = Number(state.rate);
        return def;
    }

    function review() {
        const def = definition();
        return h('div', {}, h('dl', { class: 'stats' }, stat('Name', def.name), stat('Segment', `${state.segment_name || def.segment_id}`),
            stat('Audience now', String(state.segment_size ?? '—'), 'review-size'), stat('Schedule', scheduleText(def.schedule)),
            stat('Request', `${def.message.webhook.method} ${def.message.webhook.url}`)),
        h('details', {}, h('summary', {}, 'As JSON'), h('pre', { class: 'mono' }, JSON.stringify(def, null, 2))));
    }

    const form = h('form', {
        onsubmit: async (ev) => {
            ev.preventDefault();
            if (step < steps.length - 1) {
                if (step === 1 && !state.segment_id) return fill(msg, h('p', { class: 'error', role: 'alert' }, 'Pick a segment.'));
                step += 1;
                return draw();
            }
            const r = await post('/campaigns/create', definition());
            if (!r.ok) return fill(msg, errorNote(r, 'Could not launch the campaign'));
            toast('Campaign launched');
            location.hash = `#/campaigns/${encodeURIComponent(r.data.campaign_id)}`;
        },
    }, progress, body, msg);
    fill(main, h('p', {}, h('a', { href: '#/campaigns' }, '‹ All campaigns')), h('h1', {}, 'New webhook campaign'), form);
    await draw();
}

// ---- Canvases ----

export async function renderCanvasForm(main) {
    const state = { name: '', segment_id: '', steps: [], schedule: { type: 'api_triggered' }, rate: '' };
    const addStep = () => state.steps.push({ name: `Step ${state.steps.length + 1}`, delay: state.steps.length ? 86400 : 0, url: '', method: 'POST', headers: [], body: '' });
    addStep();
    const name = h('input', { type: 'text', required: true, id: 'canvas-name' });
    name.addEventListener('input', () => { state.name = name.value; });
    const stepsBox = h('ol', { class: 'canvas-steps' });
    const drawSteps = () => fill(stepsBox, ...state.steps.map((s, i) => {
        const sn = h('input', { type: 'text', value: s.name, required: true });
        sn.addEventListener('input', () => { s.name = sn.value; });
        const delay = h('input', { type: 'number', min: 0, value: s.delay, required: true });
        delay.addEventListener('input', () => { s.delay = delay.value; });
        const move = (d) => () => { const j = i + d; [state.steps[i], state.steps[j]] = [state.steps[j], state.steps[i]]; drawSteps(); };
        return h('li', { class: 'card' }, h('h3', {}, `Step ${i + 1}`), field('Step name', sn),
            field(i ? 'Delay after the previous step (seconds)' : 'Delay after entry (seconds)', delay), webhookEditor(s),
            h('div', { class: 'row' },
                i > 0 ? h('button', { type: 'button', onclick: move(-1) }, 'Move up') : null,
                i < state.steps.length - 1 ? h('button', { type: 'button', onclick: move(1) }, 'Move down') : null,
                state.steps.length > 1 ? h('button', { type: 'button', onclick: () => { state.steps.splice(i, 1); drawSteps(); } }, 'Remove step') : null));
    }));
    drawSteps();
    const msg = h('div', { 'aria-live': 'polite' });
    const form = h('form', {
        onsubmit: async (ev) => {
            ev.preventDefault();
            const def = {
                name: state.name, segment_id: state.segment_id, schedule: scheduleOf(state.schedule),
                steps: state.steps.map((s) => ({ name: s.name, delay_seconds: Number(s.delay), message: { webhook: webhookOf(s) } })),
            };
            const r = await post('/canvas/create', def);
            if (!r.ok) return fill(msg, errorNote(r, 'Could not create the Canvas'));
            toast('Canvas created');
            location.hash = `#/canvas/${encodeURIComponent(r.data.canvas_id)}`;
        },
    }, field('Canvas name', name), section('Entry audience', await segmentPicker(state, 'canvas-segment-size')),
    section('Steps, in order', stepsBox, h('button', { type: 'button', onclick: () => { addStep(); drawSteps(); } }, 'Add step')),
    section('Entry schedule', await scheduleEditor(state.schedule)),
    h('button', { type: 'submit' }, 'Create Canvas'), msg);
    fill(main, h('p', {}, h('a', { href: '#/campaigns' }, '‹ Campaigns and Canvases')), h('h1', {}, 'New Canvas'), form);
}

export async function renderCanvasDetails(main, [id], ctx) {
    const res = await get(`/canvas/details?${q({ canvas_id: id })}`);
    if (!res.ok) return fill(main, h('h1', {}, 'Canvas'), errorNote(res, 'Could not load the Canvas'));
    const d = res.data;
    const statsBox = h('dl', { class: 'stats', id: 'canvas-stats' });
    const failBox = h('div', {});
    let shownFailures = -1;
    const drawStats = async (x) => {
        fill(statsBox, stat('Audience now', String(x.audience_size ?? 'segment gone'), 'canvas-audience'),
            stat('Entries', String(x.entries), 'canvas-entries'), stat('Sent', String(x.sends), 'canvas-sent'),
            stat('Failed', String(x.failures), 'canvas-failed'));
        if (x.failures !== shownFailures) {
            shownFailures = x.failures;
            fill(failBox, await failuresBox('canvas', id));
        }
    };
    await drawStats(d);
    const seg = await get(`/segments/details?${q({ segment_id: d.segment_id })}`);
    fill(main, 
        h('p', {}, h('a', { href: '#/campaigns' }, '‹ Campaigns and Canvases')),
        h('h1', {}, d.name, d.archived ? ' (archived)' : ''), statsBox,
        h('p', {}, `Entry ${scheduleText(d.schedule)}, segment `, h('a', { href: `#/segments/${encodeURIComponent(d.segment_id)}` }, seg.ok ? seg.data.name : d.segment_id)),
        table('Steps', ['#', 'Name', 'Delay (s)', 'Request'], d.steps.map((s, i) => [String(i + 1), s.name, String(s.delay_seconds),
            `${s.message.webhook.method} ${s.message.webhook.url}`])),
        section('Entries, sent and failed over time', await seriesBox('/canvas/data_series', id, 'canvas_id', d.steps)),
        section('Failures', failBox),
        d.archived ? null : h('button', {
            type: 'button',
            class: 'danger',
            onclick: async () => {
                if (!(await confirmDialog('Archive this Canvas?', 'Users in it stop at their current step; nobody new enters.', 'Archive'))) return;
                const r = await post('/canvas/archive', { canvas_id: id });
                if (!r.ok) return main.prepend(errorNote(r, 'Could not archive'));
                location.hash = '#/campaigns';
            },
        }, 'Archive Canvas'));
    ctx.every(2000, async () => {
        const r = await get(`/canvas/details?${q({ canvas_id: id })}`);
        if (r.ok) await drawStats(r.data);
    });
}
