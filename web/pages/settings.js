// Settings: the session's workspaces (switch, create), REST API keys (create, shown once;
// revoke) and dashboard users (admins add and remove them).
import { get, post } from '../api.js';
import { fill, h, field, select, table, errorNote, toast, section, unavailable, when, confirmDialog, copyButton } from '../ui.js';

export async function render(main, _params, ctx) {
    const ws = h('div', {});
    const keys = h('div', {});
    const users = h('div', {});
    fill(main, h('h1', {}, 'Settings'), section('Workspaces', ws), section('REST API keys', keys), section('Dashboard users', users));
    await Promise.all([renderWorkspaces(ws, ctx), renderKeys(keys), renderUsers(users, ctx)]);
}

async function renderWorkspaces(box, ctx) {
    const s = ctx.session;
    const list = s.workspaces || [];
    const current = s.workspace ? s.workspace.id : '';
    const sel = select(list.map((w) => [w.id, w.name]), current, { id: 'workspace-select' });
    const name = h('input', { type: 'text', required: true, id: 'workspace-new-name' });
    const msg = h('div', { 'aria-live': 'polite' });
    fill(box, 
        h('p', {}, `Current workspace: ${s.workspace ? s.workspace.name : '—'}`),
        h('form', {
            class: 'row',
            onsubmit: async (ev) => {
                ev.preventDefault();
                const r = await post('/dashboard/api/workspace', { workspace_id: sel.value });
                if (!r.ok) return fill(msg, errorNote(r, 'Could not switch'));
                await ctx.refreshSession();
                toast(`Switched to ${ctx.session.workspace.name}`);
                renderWorkspaces(box, ctx);
            },
        }, field('Workspace', sel), h('button', { type: 'submit' }, 'Switch')),
        h('form', {
            class: 'row',
            onsubmit: async (ev) => {
                ev.preventDefault();
                const r = await post('/workspaces/create', { name: name.value });
                if (r.status === 404) return fill(msg, unavailable('Creating workspaces'));
                if (!r.ok) return fill(msg, errorNote(r, 'Could not create the workspace'));
                await ctx.refreshSession();
                toast(`Workspace ${r.data.workspace.name} created`);
                renderWorkspaces(box, ctx);
            },
        }, field('New workspace name', name), h('button', { type: 'submit' }, 'Create workspace')),
        msg);
}

async function renderKeys(box, shown) {
    const res = await get('/api_keys/list');
    if (res.status === 404) return fill(box, unavailable('REST API keys'));
    if (!res.ok) return fill(box, errorNote(res, 'Could not load the API keys'));
    const name = h('input', { type: 'text', required: true, id: 'api-key-name' });
    const msg = h('div', { 'aria-live': 'polite' });
    const keyList = res.data.api_keys || res.data.keys || [];
    fill(box, 
        shown ? h('div', { class: 'card notice' }, h('p', {}, 'The new key, shown once — copy it now:'),
            h('code', { id: 'api-key-new' }, shown), copyButton(() => shown, 'the new API key')) : null,
        table('API keys', ['Name', 'ID', 'Permissions', 'Created', ''], keyList.map((k) => [k.name || '—', h('code', {}, k.id || k.prefix || ''),
            (k.permissions || []).map((p) => (p === '*' ? 'all' : p)).join(', ') || 'all', when(k.created_at),
            h('button', {
                type: 'button',
                class: 'danger',
                'aria-label': `Revoke key ${k.name || k.id}`,
                onclick: async () => {
                    if (!(await confirmDialog('Revoke this key?', 'Every client using it is refused (401) from now on.', 'Revoke'))) return;
                    const r = await post('/api_keys/revoke', { id: k.id });
                    if (!r.ok) return fill(msg, errorNote(r, 'Could not revoke'));
                    renderKeys(box);
                },
            }, 'Revoke')])),
        h('form', {
            class: 'row',
            onsubmit: async (ev) => {
                ev.preventDefault();
                const r = await post('/api_keys/create', { name: name.value });
                if (!r.ok) return fill(msg, errorNote(r, 'Could not create the key'));
                renderKeys(box, r.data.rest_api_key || r.data.api_key);
            },
        }, field('New key name', name), h('button', { type: 'submit' }, 'Create key')),
        msg);
}

async function renderUsers(box, ctx) {
    const res = await get('/dashboard/api/users');
    if (res.status === 404) return fill(box, unavailable('Dashboard users'));
    if (!res.ok) return fill(box, errorNote(res, 'Could not load the users'));
    const admin = ctx.session.role === 'admin';
    const email = h('input', { type: 'email', required: true, id: 'user-new-email', autocomplete: 'off' });
    const role = select([['member', 'member'], ['admin', 'admin']], 'member', { id: 'user-new-role' });
    const password = h('input', { type: 'password', required: true, minlength: 8, id: 'user-new-password', autocomplete: 'new-password' });
    const msg = h('div', { 'aria-live': 'polite' });
    fill(box, 
        table('Users', ['Email', 'Role', 'Created', ''], res.data.users.map((u) => [u.email, u.role, when(u.created_at),
            admin && u.email !== ctx.session.email ? h('button', {
                type: 'button',
                class: 'danger',
                'aria-label': `Remove ${u.email}`,
                onclick: async () => {
                    if (!(await confirmDialog(`Remove ${u.email}?`, 'They are logged out and cannot log in again.', 'Remove'))) return;
                    const r = await post('/dashboard/api/users/delete', { email: u.email });
                    if (!r.ok) return fill(msg, errorNote(r, 'Could not remove'));
                    renderUsers(box, ctx);
                },
            }, 'Remove') : ''])),
        admin ? h('form', {
            onsubmit: async (ev) => {
                ev.preventDefault();
                const r = await post('/dashboard/api/users/create', { email: email.value, role: role.value, password: password.value });
                if (!r.ok) return fill(msg, errorNote(r, 'Could not add the user'));
                toast(`${email.value} added`);
                renderUsers(box, ctx);
            },
        }, h('div', { class: 'row' }, field('Email', email), field('Role', role), field('Password', password)),
        h('button', { type: 'submit' }, 'Add user')) : h('p', {}, 'Only an admin can add or remove users.'),
        msg);
}
