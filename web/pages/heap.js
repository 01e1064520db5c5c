// Partner Integrations › Technology Partners › Heap: the data import key and REST endpoint a
// Heap account is set up with, the direct Heap webhook (URL and signing secret), and whether
// Heap's partner key is checked.
import { get, post, q } from '../api.js';
import { fill, h, field, copyButton, confirmDialog, errorNote, toast, unavailable, section, select, table, when } from '../ui.js';

function readonlyWithCopy(label, value, what, id) {
    const input = h('input', { type: 'text', readonly: true, value: value || '', id, class: 'mono' });
    return h('div', { class: 'copy-row' }, field(label, input), copyButton(() => input.value, what));
}

export async function render(main, _params, ctx) {
    const keyBox = h('div', {});
    const hookBox = h('div', {});
    const checkBox = h('div', {});
    fill(main, 
        h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, 'Partner Integrations › Technology Partners › Heap'),
        h('h1', {}, 'Heap'),
        h('p', {}, 'Heap sends cohorts here in one of two ways: through the Braze-compatible partner import ',
            '(set up in Heap with the data import key and REST endpoint below), or through its own signed webhook.'),
        section('Data import key', keyBox),
        section('Heap webhook', hookBox),
        section('Partner key check', checkBox));
    await Promise.all([renderKey(keyBox), renderHooks(hookBox), renderCheck(checkBox, ctx)]);
}

async function renderKey(box) {
    const res = await get(`/import_keys/get?${q({ partner: 'heap' })}`);
    if (res.status === 404) return fill(box, unavailable('Data import keys'));
    if (!res.ok) return fill(box, errorNote(res, 'Could not load the key'));
    const key = res.data.data_import_key;
    const rest = res.data.rest_endpoint;
    box.dataset.restEndpoint = rest || '';
    const rotate = h('button', {
        type: 'button',
        id: 'import-key-rotate',
        onclick: async () => {
            const ok = await confirmDialog('Generate a new data import key?',
                'The current key stops working at once: Heap\'s cohort syncs that still send it are refused ' +
                '(401) until you paste the new key into Heap\'s Braze integration settings.', 'Generate new key');
            if (!ok) return;
            const r = await post('/import_keys/rotate', { partner: 'heap' });
            if (!r.ok) return box.prepend(errorNote(r, 'Could not generate a key'));
            toast('New data import key generated; the old one no longer works');
            renderKey(box);
        },
    }, key ? 'Generate new key' : 'Generate key');
    const invalidate = key ? h('button', {
        type: 'button',
        class: 'danger',
        id: 'import-key-invalidate',
        onclick: async () => {
            const ok = await confirmDialog('Invalidate the data import key?',
                'Every Heap cohort import for this workspace is refused (401) until you generate a new key ' +
                'and enter it in Heap. Cohorts already imported stay as they are.', 'Invalidate key');
            if (!ok) return;
            const r = await post('/import_keys/invalidate', { partner: 'heap' });
            if (!r.ok) return box.prepend(errorNote(r, 'Could not invalidate the key'));
            toast('Data import key invalidated');
            renderKey(box);
        },
    }, 'Invalidate key') : null;
    fill(box, 
        key ? readonlyWithCopy('Data import key', key, 'the data import key', 'import-key')
            : h('p', { id: 'import-key-none' }, 'No key: Heap imports are refused until you generate one.'),
        readonlyWithCopy('REST endpoint', rest, 'the REST endpoint', 'rest-endpoint'),
        h('div', { class: 'row' }, rotate, invalidate));
}

async function renderHooks(box) {
    const [res, keyRes] = await Promise.all([get('/integrations/heap/list'), get(`/import_keys/get?${q({ partner: 'heap' })}`)]);
    if (!res.ok) return fill(box, errorNote(res, 'Could not load the webhooks'));
    const base = (keyRes.ok && keyRes.data.rest_endpoint) || location.origin;
    const secrets = renderHooks.secrets || (renderHooks.secrets = {});
    const name = h('input', { type: 'text', value: 'Heap production', required: true });
    const create = h('form', {
        class: 'row',
        onsubmit: async (ev) => {
            ev.preventDefault();
            const r = await post('/integrations/heap/create', { name: name.value });
            if (!r.ok) return box.prepend(errorNote(r, 'Could not create the webhook'));
            secrets[r.data.integration_id] = r.data.webhook_secret;
            renderHooks(box);
        },
    }, field('New webhook name', name), h('button', { type: 'submit' }, 'Create webhook'));
    const items = res.data.integrations.map((it) => {
        const url = base.replace(/\/$/, '') + it.webhook_path;
        const secret = secrets[it.integration_id];
        return h('article', { class: 'card' },
            h('h3', {}, it.name),
            readonlyWithCopy('Webhook URL', url, 'the webhook URL'),
            secret ? readonlyWithCopy('Signing secret (shown once: copy it into Heap now)', secret, 'the signing secret')
                : h('p', {}, 'Signing secret: stored hashed, not shown again. Rotate to get a new one.'),
            h('p', {}, `Pages received: ${it.pages_received}; ignored requests: ${it.ignored_requests}; created ${when(it.created_at)}`),
            h('div', { class: 'row' },
                h('button', {
                    type: 'button',
                    onclick: async () => {
                        const ok = await confirmDialog('Rotate the signing secret?',
                            'Heap\'s pages signed with the old secret are refused from now on, until you enter the new secret in Heap.',
                            'Rotate secret');
                        if (!ok) return;
                        const r = await post('/integrations/heap/rotate_secret', { integration_id: it.integration_id });
                        if (!r.ok) return box.prepend(errorNote(r, 'Could not rotate'));
                        secrets[it.integration_id] = r.data.webhook_secret;
                        renderHooks(box);
                    },
                }, 'Rotate secret'),
                h('button', {
                    type: 'button',
                    class: 'danger',
                    onclick: async () => {
                        const ok = await confirmDialog('Delete this webhook?',
                            'Heap\'s syncs to this URL are refused from now on. Cohorts already received stay.', 'Delete webhook');
                        if (!ok) return;
                        const r = await post('/integrations/heap/delete', { integration_id: it.integration_id });
                        if (!r.ok) return box.prepend(errorNote(r, 'Could not delete'));
                        renderHooks(box);
                    },
                }, 'Delete')));
    });
    fill(box, 
        h('p', {}, 'Heap can also push its cohorts here directly: create a webhook, then enter its URL and signing secret ',
            'in Heap\'s webhook destination. Each page Heap sends is signed with the secret.'),
        ...items, create);
}

async function renderCheck(box, ctx) {
    const res = await get('/partners/list');
    if (res.status === 404) return fill(box, unavailable('Partner key check'));
    if (!res.ok) return fill(box, errorNote(res, 'Could not load the partner settings'));
    const p = (res.data.partners || []).find((x) => x.name === 'heap');
    if (!p) return fill(box, h('p', {}, 'No Heap partner in this workspace.'));
    const checked = p.key_check === 'required';
    const choice = select([['required', 'Required: Heap must send this server\'s partner key'],
        ['off', 'Off: hosted Heap sends its own key; the data import key identifies the workspace']], p.key_check);
    const admin = ctx.session && ctx.session.role === 'admin';
    if (!admin) choice.disabled = true;
    fill(box, 
        h('p', { id: 'key-check-state' }, checked ? 'Heap\'s partner key is checked.' : 'Heap\'s partner key is not checked.'),
        h('form', {
            class: 'row',
            onsubmit: async (ev) => {
                ev.preventDefault();
                const r = await post('/partners/update', { name: 'heap', key_check: choice.value });
                if (!r.ok) return box.prepend(errorNote(r, 'Could not change the key check'));
                toast('Partner key check saved');
                renderCheck(box, ctx);
            },
        }, field('Key check', choice), admin ? h('button', { type: 'submit' }, 'Save') : h('small', {}, 'Only an admin can change this.')),
        table('Partners', ['Partner', 'Key check'], (res.data.partners || []).map((x) => [x.name, x.key_check])));
}
