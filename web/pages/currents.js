// Currents: the event exports to Heap (or any HTTP endpoint) — create, then each one's state,
// lag, delivered count, last error and dead letters, with replay, pause and resume.
import { get, post, q } from '../api.js';
import { fill, h, field, select, table, errorNote, stat, toast, section } from '../ui.js';

const EVENT_TYPES = ['users.behaviors.CustomEvent', 'users.behaviors.Purchase', 'users.behaviors.app.SessionStart',
    'users.behaviors.app.SessionEnd', 'users.behaviors.subscription.GlobalStateChange', 'users.messages.webhook.Send',
    'users.messages.webhook.Failure', 'users.campaigns.EnrollInControl', 'users.canvas.Entry'];
const DEFAULT_TYPES = ['users.behaviors.CustomEvent', 'users.behaviors.Purchase', 'users.messages.webhook.Send', 'users.canvas.Entry'];

export async function renderList(main) {
    const res = await get('/currents/list');
    const form = createForm();
    if (!res.ok) return fill(main, h('h1', {}, 'Currents'), errorNote(res, 'Could not load the Currents'), form);
    const details = await Promise.all(res.data.currents.map((c) => get(`/currents/details?${q({ current_id: c.current_id })}`)));
    fill(main, h('h1', {}, 'Currents'),
        table('Currents', ['Name', 'Type', 'Endpoint', 'State', 'Delivered', 'Dead letters'], res.data.currents.map((c, i) => {
            const d = details[i].ok ? details[i].data : {};
            return [h('a', { href: `#/currents/${encodeURIComponent(c.current_id)}` }, c.name), c.type, c.endpoint, c.state,
                String(d.delivered ?? '—'), String(d.dead_lettered ?? '—')];
        }), { id: 'currents-table' }),
        section('New Current', form));
}

function createForm() {
    const name = h('input', { type: 'text', required: true, value: 'to Heap', id: 'current-name' });
    const type = select([['heap', 'Heap'], ['custom_http', 'Custom HTTP']], 'heap', { id: 'current-type' });
    const endpoint = h('input', { type: 'url', required: true, class: 'mono', id: 'current-endpoint', placeholder: 'https://…' });
    const token = h('input', { type: 'password', id: 'current-token', autocomplete: 'off' });
    const batch = h('input', { type: 'number', min: 1, max: 10000, value: 100, id: 'current-batch' });
    const boxes = EVENT_TYPES.map((t) => {
        const c = h('input', { type: 'checkbox', value: t, checked: DEFAULT_TYPES.includes(t), id: `et-${t.replace(/\./g, '-')}` });
        return h('div', { class: 'field check' }, c, h('label', { for: c.id }, t));
    });
    const msg = h('div', { 'aria-live': 'polite' });
    return h('form', {
        onsubmit: async (ev) => {
            ev.preventDefault();
            const types = boxes.map((b) => b.querySelector('input')).filter((c) => c.checked).map((c) => c.value);
            const body = { name: name.value, type: type.value, endpoint: endpoint.value, event_types: types, batch_size: Number(batch.value) };
            if (token.value) body.bearer_token = token.value;
            const r = await post('/currents/create', body);
            if (!r.ok) return fill(msg, errorNote(r, 'Could not create the Current'));
            toast('Current created');
            location.hash = `#/currents/${encodeURIComponent(r.data.current_id)}`;
        },
    }, field('Name', name), field('Type', type), field('Endpoint', endpoint, 'Where the batches are POSTed'),
    field('Bearer token', token, 'Sent as Authorization: Bearer …; stored, never shown again'),
    h('fieldset', {}, h('legend', {}, 'Event types'), boxes), field('Batch size', batch),
    h('button', { type: 'submit', id: 'current-create' }, 'Create Current'), msg);
}

function lag(s) {
    if (s === null || s === undefined) return 'none waiting';
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
}

export async function renderDetails(main, [id], ctx) {
    const stats = h('dl', { class: 'stats', id: 'current-stats' });
    const head = h('div', {});
    const msg = h('div', { 'aria-live': 'polite' });
    const act = (path, done) => async () => {
        const r = await post(path, { current_id: id });
        if (!r.ok) return fill(msg, errorNote(r, 'Could not do that'));
        toast(done(r.data));
        refresh();
    };
    const buttons = h('div', { class: 'row' },
        h('button', { type: 'button', id: 'current-pause', onclick: act('/currents/pause', () => 'Paused') }, 'Pause'),
        h('button', { type: 'button', id: 'current-resume', onclick: act('/currents/resume', () => 'Resumed') }, 'Resume'),
        h('button', { type: 'button', id: 'current-replay', onclick: act('/currents/replay', (d) => `${d.replayed} dead-lettered events put back in line`) }, 'Replay dead letters'));
    async function refresh() {
        const r = await get(`/currents/details?${q({ current_id: id })}`);
        if (!r.ok) return fill(head, errorNote(r, 'Could not load the Current'));
        const d = r.data;
        fill(head, h('h1', {}, d.name), h('p', { class: 'mono' }, `${d.type} → ${d.endpoint}`),
            h('p', {}, `Event types: ${d.event_types.join(', ')}; batches of ${d.batch_size}; token ${d.has_bearer_token ? 'set' : 'not set'}`));
        fill(stats, stat('State', d.state, 'current-state'), stat('Lag (oldest undelivered)', lag(d.oldest_undelivered_age_s), 'current-lag'),
            stat('Delivered', String(d.delivered), 'current-delivered'), stat('Retried', String(d.retried)),
            stat('Dead letters', String(d.dead_lettered), 'current-dead'), stat('Last error', d.last_error || 'none', 'current-error'));
        buttons.querySelector('#current-pause').disabled = d.state === 'paused';
        buttons.querySelector('#current-resume').disabled = d.state === 'active';
        buttons.querySelector('#current-replay').disabled = !d.dead_lettered;
    }
    fill(main, h('p', {}, h('a', { href: '#/currents' }, '‹ All Currents')), head, stats, buttons, msg);
    await refresh();
    ctx.every(1000, refresh);
}
