// The dashboard's shell: asks the server who is logged in (GET /dashboard/api/session), shows
// the login form on 401, and routes the hash (#/cohorts, #/segments/ID, …) to a page module.
// A page is `render(main, params, ctx)`; the timers it starts are stopped on the next route.
import { get, post, setCsrfToken, setLoggedOutHandler } from './api.js';
import { h, field, errorNote, fill } from './ui.js';
import * as heap from './pages/heap.js';
import * as cohorts from './pages/cohorts.js';
import * as segments from './pages/segments.js';
import * as campaigns from './pages/campaigns.js';
import * as currents from './pages/currents.js';
import * as settings from './pages/settings.js';

const routes = [
    [/^\/partners\/heap$/, heap.render, 'Heap'],
    [/^\/cohorts$/, cohorts.renderList, 'Cohorts'],
    [/^\/cohorts\/([^/]+)\/(.+)$/, cohorts.renderDetails, 'Cohort'],
    [/^\/segments$/, segments.renderList, 'Segments'],
    [/^\/segments\/new$/, segments.renderBuilder, 'New segment'],
    [/^\/segments\/([^/]+)$/, segments.renderDetails, 'Segment'],
    [/^\/campaigns$/, campaigns.renderList, 'Campaigns'],
    [/^\/campaigns\/new$/, campaigns.renderWizard, 'New campaign'],
    [/^\/campaigns\/([^/]+)$/, campaigns.renderDetails, 'Campaign'],
    [/^\/canvas\/new$/, campaigns.renderCanvasForm, 'New Canvas'],
    [/^\/canvas\/([^/]+)$/, campaigns.renderCanvasDetails, 'Canvas'],
    [/^\/currents$/, currents.renderList, 'Currents'],
    [/^\/currents\/([^/]+)$/, currents.renderDetails, 'Current'],
    [/^\/settings$/, settings.render, 'Settings'],
];

const ctx = {
    session: null,
    timers: [],
    every(ms, fn) {
        this.timers.push(setInterval(fn, ms));
    },
    async refreshSession() {
        const res = await get('/dashboard/api/session');
        if (res.status !== 200) {
            this.session = null;
            return false;
        }
        this.session = res.data;
        setCsrfToken(res.data.csrf_token);
        showHeader();
        return true;
    },
};

function stopTimers() {
    for (const t of ctx.timers) clearInterval(t);
    ctx.timers = [];
}

function showHeader() {
    const top = document.getElementById('top');
    const s = ctx.session;
    top.hidden = !s;
    if (!s) return;
    document.getElementById('user-email').textContent = `${s.email} (${s.role})`;
    document.getElementById('workspace-name').textContent = s.workspace ? `Workspace: ${s.workspace.name}` : '';
}

function markNav(path) {
    for (const a of document.querySelectorAll('#top nav a')) {
        const target = a.getAttribute('href').slice(1);
        const here = path === target || path.startsWith(`${target}/`) ||
            (target === '/campaigns' && path.startsWith('/canvas'));
        if (here) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
}

function renderLogin(main, note) {
    ctx.session = null;
    setCsrfToken('');
    showHeader();
    const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
    const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const msg = h('div', { 'aria-live': 'assertive' }, note ? h('p', { class: 'notice' }, note) : null);
    const form = h('form', {
        class: 'login card',
        'aria-labelledby': 'login-title',
        onsubmit: async (ev) => {
            ev.preventDefault();
            const res = await post('/dashboard/api/login', { email: email.value, password: password.value });
            if (res.status !== 200) {
                fill(msg, errorNote(res, 'Log in failed'));
                password.select();
                return;
            }
            await ctx.refreshSession();
            if (location.hash === '' || location.hash === '#/login') location.hash = '#/partners/heap';
            else route();
        },
    },
    h('h1', { id: 'login-title' }, 'Log in to cohortd'),
    field('Email', email),
    field('Password', password),
    h('button', { type: 'submit' }, 'Log in'),
    msg);
    fill(main, form);
    email.focus();
}

async function route() {
    stopTimers();
    const main = document.getElementById('main');
    if (!ctx.session && !(await ctx.refreshSession())) {
        renderLogin(main);
        return;
    }
    let path = location.hash.replace(/^#/, '') || '/partners/heap';
    if (path === '/login') path = '/partners/heap';
    const qi = path.indexOf('?');
    ctx.query = new URLSearchParams(qi >= 0 ? path.slice(qi + 1) : '');
    if (qi >= 0) path = path.slice(0, qi);
    markNav(path);
    for (const [re, fn, title] of routes) {
        const m = path.match(re);
        if (!m) continue;
        document.title = `${title} · cohortd`;
        fill(main, h('p', {}, 'Loading…'));
        try {
            await fn(main, m.slice(1).map(decodeURIComponent), ctx);
        } catch (e) {
            fill(main, h('p', { class: 'error', role: 'alert' }, `This page failed: ${e.message}`));
        }
        main.focus({ preventScroll: true });
        return;
    }
    fill(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/partners/heap' }, 'Back to the start')));
}

setLoggedOutHandler(() => {
    stopTimers();
    renderLogin(document.getElementById('main'), 'Your session has ended; log in again.');
});

document.getElementById('logout').addEventListener('click', async () => {
    await post('/dashboard/api/logout', {});
    stopTimers();
    renderLogin(document.getElementById('main'), 'Logged out.');
});

window.addEventListener('hashchange', route);
route();
