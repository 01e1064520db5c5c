// The dashboard's browser tests: a real cohortd (fresh data directory, a dashboard admin made
// with `cohortd user add`) on a free loopback port, a webhook receiver and Currents sink run
// here, and Debian's chromium driven headless through playwright-core, one test per flow of
// the dashboard. Each test saves a screenshot in OUT_DIR; with COHORTD_SCREENSHOTS=DIR the main
// screens are also written there under stable names (`make screenshots` → docs/screenshots).
//
//   node run.mjs COHORTD_BIN OUT_DIR [TEST_NAME_SUBSTRING]
//
// Exit status 0 when every test passed. CHROMIUM overrides /usr/bin/chromium.
import { chromium } from 'playwright-core';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [bin, outDir, only] = process.argv.slice(2);
if (!bin || !outDir) {
    console.error('usage: node run.mjs COHORTD_BIN OUT_DIR [TEST_NAME_SUBSTRING]');
    process.exit(2);
}
const docsShots = process.env.COHORTD_SCREENSHOTS || '';
const EMAIL = 'admin@example.test';
const PASSWORD = 'correct horse battery staple';

// ---- helpers ----

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

// Polls fn until it returns a truthy value; fails naming `what` after `ms`.
async function until(what, fn, ms = 15000) {
    const end = Date.now() + ms;
    let last;
    while (Date.now() < end) {
        try {
            last = await fn();
            if (last) return last;
        } catch (e) {
            last = e.message;
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

function assertEq(actual, expected, what) {
    const a = JSON.stringify(actual);
    const e = JSON.stringify(expected);
    if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

function run(args, input) {
    const r = spawnSync(bin, args, { input: input ?? '', encoding: 'utf8', env: { ...process.env, COHORTD_CONFIG: '/dev/null' } });
    if (r.status !== 0) throw new Error(`cohortd ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
}

// The webhook receiver and Currents sink: records every request it gets, answers 200.
function startReceiver() {
    const got = [];
    const server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => { body += c; });
        req.on('end', () => {
            got.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now() });
            // the one user the receiver refuses, for the last-failures tests
            const refused = req.url.startsWith('/check/bob');
            res.writeHead(refused ? 500 : 200, { 'Content-Type': 'application/json' });
            res.end(refused ? '{"error":"boom"}' : '{"ok":true}');
        });
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, got, base: `http://127.0.0.1:${server.address().port}` })));
}

// ---- the server under test ----

async function startServer() {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'cohortd-browser-'));
    const port = await freePort();
    const listen = `127.0.0.1:${port}`;
    const creds = JSON.parse(run(['init', '--data', data, '--listen', listen, '--json']));
    run(['user', 'add', EMAIL, '--role', 'admin', '--data', data], `${PASSWORD}\n`);
    const log = fs.openSync(path.join(outDir, 'cohortd.log'), 'w');
    const proc = spawn(bin, ['serve', '--data', data, '--listen', listen, '--web-dir', path.join(here, '..', '..', 'web'),
        '--campaigns-poll-ms', '50', '--webhook-retry-base-ms', '50', '--webhook-max-attempts', '2'], {
        stdio: ['ignore', log, log],
        env: { ...process.env, COHORTD_CONFIG: '/dev/null', COHORTD_CURRENTS_POLL_MS: '50' },
    });
    const base = `http://${listen}`;
    await until('the server to answer /healthz', async () => (await fetch(`${base}/healthz`)).status === 200, 30000);
    return { proc, data, base, creds };
}

// ---- the tests, in order: later ones use what earlier ones made ----

const S = {}; // shared state: server, receiver, keys, ids

async function api(method, p, body, headers) {
    const res = await fetch(`${S.base}${p}`, {
        method,
        headers: { Authorization: `Bearer ${S.creds.rest_api_key}`, 'Content-Type': 'application/json', ...(headers || {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { json = null; }
    return { status: res.status, json, text };
}

async function partnerImport(importKey, cohortId, name, userIds) {
    const keys = { partner_api_key: S.creds.partners.heap.partner_api_key, client_secret: importKey, cohort_id: cohortId };
    const a = await fetch(`${S.base}/partners/heap/cohorts`, { method: 'POST', body: JSON.stringify({ ...keys, name, created_at: '2024-05-02T08:15:00Z' }) });
    if (a.status >= 300) return { status: a.status, json: await a.json().catch(() => null) };
    const b = await fetch(`${S.base}/partners/heap/cohorts/users`, { method: 'POST', body: JSON.stringify({ ...keys, cohort_changes: [{ user_ids: userIds }] }) });
    return { status: b.status, json: await b.json().catch(() => null) };
}

async function go(page, hash) {
    await page.goto(`${S.base}/dashboard/${hash}`);
}

async function login(page) {
    await go(page, '');
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Heap', exact: true }).waitFor();
}

// A screen the README shows, written under COHORTD_SCREENSHOTS (and always in OUT_DIR).
async function docsShot(page, name) {
    await page.evaluate(() => { document.getElementById('toast').style.display = 'none'; });
    await page.screenshot({ path: path.join(outDir, `screen-${name}.png`) });
    if (docsShots) await page.screenshot({ path: path.join(docsShots, `${name}.png`) });
}

// The controls of the page the accessibility tree gives no name (what a screen reader would
// announce as just "button" or "edit text"): inputs, selects, buttons and links.
async function unnamedControls(page) {
    const cdp = await page.context().newCDPSession(page);
    try {
        const { nodes } = await cdp.send('Accessibility.getFullAXTree');
        const roles = new Set(['textbox', 'searchbox', 'combobox', 'listbox', 'button', 'checkbox', 'radio', 'spinbutton', 'slider', 'switch', 'link']);
        const bad = [];
        for (const n of nodes) {
            const role = n.role && n.role.value;
            if (n.ignored || !roles.has(role) || ((n.name && n.name.value) || '').trim()) continue;
            let what = role;
            if (n.backendDOMNodeId) {
                const { node } = await cdp.send('DOM.describeNode', { backendNodeId: n.backendDOMNodeId });
                const attrs = node.attributes || [];
                const id = attrs[attrs.indexOf('id') + 1];
                what = `${role} <${node.localName}${attrs.includes('id') ? ` id="${id}"` : ''}>`;
            }
            bad.push(`${what} has no accessible name`);
        }
        return bad;
    } finally {
        await cdp.detach();
    }
}

// The exact no-horizontal-scroll rule: the page scrolls no wider than its viewport.
async function horizontalOverflow(page) {
    return page.evaluate(() => {
        const el = document.scrollingElement;
        if (el.scrollWidth <= el.clientWidth) return null;
        // the widest elements that stick out, to say what to fix
        const out = [...document.querySelectorAll('main *, header *')].filter((e) => !e.closest('.table-wrap, pre') && e.getBoundingClientRect().right > el.clientWidth + 0.5)
            .slice(0, 3).map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className && typeof e.className === 'string' ? `.${e.className.split(' ')[0]}` : ''}`);
        return `scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth} (${out.join(', ')})`;
    });
}

// Waits until the page just opened has finished drawing: the router then moves the focus to
// <main> (web/app.js), which must happen before the test starts pressing Tab from there.
async function routed(page) {
    await page.waitForFunction(() => document.activeElement === document.querySelector('main'));
}

// Moves the focus with Tab (or Shift+Tab) until test(the focused control) holds; every control
// passed on the way must show its focus (an outline). Fails naming `what` after max presses.
async function tabTo(page, what, test, { back = false, max = 80 } = {}) {
    for (let i = 0; i < max; i++) {
        await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
        const f = await focused(page);
        if (f && !f.visible) throw new Error(`the focus on ${f.tag} "${f.name}" is not visible`);
        if (f && test(f)) return f;
    }
    throw new Error(`${what}: not reached with ${max} presses of ${back ? 'Shift+Tab' : 'Tab'}`);
}

// The focused control: tag, accessible-ish name (its label, aria-label or text), value, and
// whether its focus shows (an outline of some width).
async function focused(page) {
    return page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const cs = getComputedStyle(el);
        const name = (el.labels && el.labels.length ? el.labels[0].textContent : el.getAttribute('aria-label') || el.textContent || '').trim();
        return { tag: el.tagName.toLowerCase(), name, value: 'value' in el ? el.value : null, kb: el.dataset.kb || null,
            visible: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2 };
    });
}

// Every form control on the page has a label (its own <label>, or aria-label), and nothing is
// wider than the viewport.
async function checkAccessible(page, where) {
    const problems = await page.evaluate(() => {
        const bad = [];
        for (const el of document.querySelectorAll('input, select, textarea, button')) {
            if (el.closest('[hidden]') || el.type === 'hidden') continue;
            const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim());
            if (!named) bad.push(`${el.tagName.toLowerCase()}#${el.id || '?'} has no label`);
        }
        const shown = document.body.innerText;
        const junk = shown.match(/\b(null|undefined|NaN)\b|\[object Object\]/);
        if (junk) bad.push(`the page shows "${junk[0]}"`);
        return bad;
    });
    const overflow = await horizontalOverflow(page);
    if (overflow) problems.push(overflow);
    problems.push(...await unnamedControls(page));
    if (problems.length) throw new Error(`${where}: ${problems.join('; ')}`);
}

const tests = [
    ['wrong password is refused (the form used from the keyboard only)', 'login', async ({ page }) => {
        await go(page, '');
        await page.getByLabel('Email').waitFor();
        await page.keyboard.type(EMAIL);
        await page.keyboard.press('Tab');
        await page.keyboard.type('not the password');
        await page.keyboard.press('Enter');
        await page.getByRole('alert').filter({ hasText: 'invalid email or password' }).waitFor();
        const status = await page.evaluate(async () => (await fetch('/dashboard/api/session')).status);
        assertEq(status, 401, 'session after a wrong password');
        await checkAccessible(page, 'login form');
    }],
    ['log in shows the Heap page with the import key and REST endpoint', 'heap', async ({ page }) => {
        await login(page);
        const shown = await page.locator('#rest-endpoint').inputValue();
        assertEq(shown, S.base, 'REST endpoint shown');
        // Heap's partner key check: changed from the page where the server has the setting
        const partners = await api('GET', '/partners/list');
        if (partners.status === 200) {
            const before = partners.json.partners.find((x) => x.name === 'heap').key_check;
            const after = before === 'required' ? 'off' : 'required';
            await page.getByRole('combobox', { name: 'Key check' }).selectOption(after);
            await page.getByRole('button', { name: 'Save' }).click();
            await page.locator('#key-check-state').filter({ hasText: after === 'required' ? 'is checked' : 'is not checked' }).waitFor();
            const now = await api('GET', '/partners/list');
            assertEq(now.json.partners.find((x) => x.name === 'heap').key_check, after, 'key check after saving');
            await page.getByRole('combobox', { name: 'Key check' }).selectOption(before);
            await page.getByRole('button', { name: 'Save' }).click();
            await page.locator('#key-check-state').filter({ hasText: before === 'required' ? 'is checked' : 'is not checked' }).waitFor();
        } else {
            await page.getByText('Partner key check: not available on this server.').waitFor();
        }
        await checkAccessible(page, 'Heap page');
    }],
    ['the import key copied from the Heap page works in a partner import', null, async ({ page }) => {
        await login(page);
        await page.getByRole('button', { name: 'Copy the data import key' }).click();
        const copied = await page.evaluate(() => navigator.clipboard.readText());
        assertEq(copied, S.creds.partners.heap.data_import_key, 'copied key');
        const r = await partnerImport(copied, '1338065', 'Free Customers', ['ann', 'bob', 'nobody']);
        assertEq([r.status, r.json], [201, { message: 'success', ids_received: 3, ids_matched: 2, ids_unmatched: 1, users_added: 2, users_removed: 0 }], 'partner import');
    }],
    ['the cohort shows its size and counts', 'cohort', async ({ page }) => {
        await login(page);
        await page.getByRole('link', { name: 'Cohorts', exact: true }).click();
        await page.getByRole('link', { name: 'Free Customers' }).click();
        await page.locator('#cohort-size').filter({ hasText: '2' }).waitFor();
        const shown = await page.evaluate(() => ['cohort-size', 'cohort-received', 'cohort-matched', 'cohort-unmatched'].map((id) => document.getElementById(id).textContent));
        assertEq(shown, ['2', '3', '2', '1'], 'size, received, matched, unmatched');
        await page.getByRole('cell', { name: 'nobody' }).waitFor();
        await page.getByRole('cell', { name: 'unknown external_id' }).waitFor();
        // the size chart where the server keeps the history, a plain note where it does not
        const series = await api('GET', '/cohorts/data_series?partner=heap&cohort_id=1338065&length=30');
        if (series.status === 200) await page.getByRole('img', { name: 'Size of Free Customers by day' }).waitFor();
        else await page.getByText('Cohort size history: not available on this server.').waitFor();
        await checkAccessible(page, 'cohort page');
    }],
    ['a segment built by clicking has the size /segments/details reports', 'segment', async ({ page }) => {
        await login(page);
        await page.getByRole('link', { name: 'Segments', exact: true }).click();
        await page.getByRole('link', { name: 'New segment' }).click();
        await page.getByLabel('Segment name').fill('Trial users in Free Customers');
        await page.getByRole('button', { name: 'Add Heap Cohorts filter' }).click();
        await page.getByLabel('Cohort rule').selectOption('includes');
        await page.getByLabel('Cohort', { exact: true }).selectOption({ label: 'Free Customers' });
        await until('size 2 for the cohort alone', async () => (await page.locator('#segment-size').getAttribute('data-size')) === '2');
        await page.getByRole('button', { name: 'Add attribute filter' }).click();
        await page.getByLabel('Attribute name').fill('plan');
        await page.getByLabel('Comparison').selectOption('equals');
        await page.getByLabel('Value', { exact: true }).fill('trial');
        await until('size 1 with plan equals trial', async () => (await page.locator('#segment-size').getAttribute('data-size')) === '1');
        const took = await page.locator('#segment-ms').textContent();
        if (!/answered in \d+ ms/.test(took)) throw new Error(`no answer time shown: ${took}`);
        await checkAccessible(page, 'segment builder');
        await docsShot(page, 'segment-builder');
        await page.getByRole('button', { name: 'Save segment' }).click();
        await page.locator('#segment-description').waitFor();
        S.segmentId = decodeURIComponent(new URL(page.url()).hash.replace('#/segments/', ''));
        const d = await api('GET', `/segments/details?segment_id=${encodeURIComponent(S.segmentId)}`);
        assertEq(d.status, 200, 'details status');
        assertEq(d.json.size, 1, 'size in /segments/details');
        assertEq(d.json.filter, { and: [{ cohort: { partner: 'heap', cohort_id: '1338065' }, op: 'includes' }, { attribute: 'plan', op: 'equals', value: 'trial' }] }, 'filter saved');
        assertEq(await page.locator('#segment-details-size').textContent(), String(d.json.size), 'size shown on the saved segment');
        assertEq(await page.locator('#segment-description').textContent(), 'Heap Cohorts includes Free Customers AND plan equals "trial"', 'description shown');
        await checkAccessible(page, 'saved segment');
    }],
    ['the segment builder reads well on a phone', 'segment-builder-phone', async ({ page }) => {
        await page.setViewportSize({ width: 390, height: 844 });
        await login(page);
        await go(page, '#/segments/new');
        await page.getByRole('button', { name: 'Add Heap Cohorts filter' }).click();
        await page.getByRole('button', { name: 'Add attribute filter' }).click();
        await until('a size', async () => (await page.locator('#segment-size').getAttribute('data-size')) !== null);
        await checkAccessible(page, 'segment builder on a phone');
    }],
    ['from the keyboard only: log in and build a segment, every control reachable and its focus visible', null, async ({ page }) => {
        await go(page, '');
        await page.getByLabel('Email').waitFor();
        assertEq((await focused(page)).name, 'Email', 'focus on the login form');
        await page.keyboard.type(EMAIL);
        await page.keyboard.press('Tab');
        await page.keyboard.type(PASSWORD);
        await page.keyboard.press('Enter');
        await page.getByRole('heading', { name: 'Heap', exact: true }).waitFor();
        await routed(page);
        await tabTo(page, 'the Segments link', (f) => f.tag === 'a' && f.name === 'Segments', { back: true });
        await page.keyboard.press('Enter');
        await page.getByRole('heading', { name: 'Segments', exact: true }).waitFor();
        await routed(page);
        await tabTo(page, 'the New segment link', (f) => f.tag === 'a' && f.name === 'New segment');
        await page.keyboard.press('Enter');
        await page.locator('#segment-name').waitFor();
        await routed(page);
        await tabTo(page, 'the segment name', (f) => f.name === 'Segment name');
        await page.keyboard.type('Keyboard trial users');
        await tabTo(page, 'Add Heap Cohorts filter', (f) => f.name === 'Add Heap Cohorts filter');
        await page.keyboard.press('Enter');
        // the new filter takes the focus; its rule changes with the arrow keys
        await until('the focus on the new filter', async () => (await focused(page)).name === 'Cohort rule');
        await page.keyboard.press('ArrowDown');
        assertEq((await focused(page)).value, 'excludes', 'Cohort rule after ArrowDown');
        await page.keyboard.press('ArrowUp');
        assertEq((await focused(page)).value, 'includes', 'Cohort rule after ArrowUp');
        const cohort = await tabTo(page, 'the cohort', (f) => f.name === 'Cohort');
        assertEq(cohort.value, '1338065', 'the cohort picked (Free Customers)');
        await tabTo(page, 'Add attribute filter', (f) => f.name === 'Add attribute filter');
        await page.keyboard.press('Space');
        await until('the focus on the attribute name', async () => (await focused(page)).name === 'Attribute name');
        await page.keyboard.type('plan');
        const cmp = await tabTo(page, 'the comparison', (f) => f.name === 'Comparison');
        assertEq(cmp.value, 'equals', 'comparison');
        await tabTo(page, 'the value', (f) => f.name === 'Value');
        await page.keyboard.type('trial');
        await until('size 1', async () => (await page.locator('#segment-size').getAttribute('data-size')) === '1');
        await docsShot(page, 'keyboard'); // the focus outlined on the value just typed
        // every control of the page is reached by Tab, and Shift+Tab goes back one
        const n = await page.evaluate(() => {
            const all = [...document.querySelectorAll('a[href], button, input, select, textarea, summary')].filter((e) => !e.disabled && e.getClientRects().length);
            all.forEach((e, i) => { e.dataset.kb = String(i); });
            return all.length;
        });
        const seen = new Set();
        let prev = null;
        for (let i = 0; i < n * 2 + 10 && seen.size < n; i++) {
            const f = await tabTo(page, 'the next control', () => true);
            if (f.kb !== null) seen.add(f.kb);
            if (i === 5) {
                await page.keyboard.press('Shift+Tab');
                assertEq((await focused(page)).kb, prev, 'Shift+Tab goes back to the control before');
                await page.keyboard.press('Tab');
            }
            prev = f.kb;
        }
        const missed = await page.evaluate((got) => [...document.querySelectorAll('[data-kb]')].filter((e) => !got.includes(e.dataset.kb))
            .map((e) => `${e.tagName.toLowerCase()} "${(e.labels && e.labels[0] ? e.labels[0].textContent : e.getAttribute('aria-label') || e.textContent).trim()}"`), [...seen]);
        assertEq(missed, [], 'controls Tab never reached');
        await tabTo(page, 'Save segment', (f) => f.name === 'Save segment');
        await page.keyboard.press('Enter');
        await page.locator('#segment-description').filter({ hasText: 'Heap Cohorts includes Free Customers AND plan equals "trial"' }).waitFor();
        const id = decodeURIComponent(new URL(page.url()).hash.replace('#/segments/', ''));
        const d = await api('GET', `/segments/details?segment_id=${encodeURIComponent(id)}`);
        assertEq([d.json.name, d.json.size], ['Keyboard trial users', 1], 'the segment saved from the keyboard');
    }],
    ['a campaign on the segment sends its requests to the receiver', 'campaign', async ({ page }) => {
        await login(page);
        await page.getByRole('link', { name: 'Campaigns', exact: true }).click();
        await page.getByRole('link', { name: 'New webhook campaign' }).click();
        await page.getByLabel('Campaign name').fill('Trial nudge');
        await page.getByLabel('Webhook URL').fill(`${S.receiver.base}/hook?user={{\${user_id}}}`);
        await page.getByLabel('HTTP method').selectOption('POST');
        await page.getByLabel('Request body').fill('{"hello":"{{custom_attribute.${first_name} | default: \'there\'}}"}');
        // the preview shows the request as it would be sent to the chosen user
        const shown = async (text) => {
            await until(`the preview "${text}"`, async () => (await page.locator('#preview-result').textContent()) === text);
        };
        await page.getByLabel('User (external_id)').fill('ann');
        await page.getByRole('button', { name: 'Preview' }).click();
        await shown(`POST ${S.receiver.base}/hook?user=ann\n\n\n{"hello":"Ann"}`);
        await page.getByLabel('User (external_id)').fill('bob');
        await page.getByRole('button', { name: 'Preview' }).click();
        await shown(`POST ${S.receiver.base}/hook?user=bob\n\n\n{"hello":"there"}`);
        await page.getByRole('button', { name: 'Send a test to this user' }).click();
        await shown('Test sent: the endpoint answered 200.');
        const test = S.receiver.got.filter((r) => r.url === '/hook?user=bob');
        assertEq(test.map((r) => [r.method, r.body]), [['POST', '{"hello":"there"}']], 'the test send received');
        await page.getByLabel('User (external_id)').fill('nobody');
        await page.getByRole('button', { name: 'Preview' }).click();
        await until('the unknown user named', async () => /user not found/.test(await page.locator('#preview-result').textContent()));
        await page.getByRole('button', { name: 'Next' }).click();
        await page.getByLabel('Segment').selectOption({ label: 'Trial users in Free Customers' });
        await page.locator('#campaign-segment-size').filter({ hasText: '1 user' }).waitFor();
        await page.getByRole('button', { name: 'Next' }).click();
        await page.getByLabel(/^Now/).check();
        await page.getByRole('button', { name: 'Next' }).click();
        await page.locator('#review-size').filter({ hasText: '1' }).waitFor();
        await page.getByRole('button', { name: 'Launch campaign' }).click();
        await until('the request for ann at the receiver', async () => S.receiver.got.find((r) => r.url === '/hook?user=ann'));
        const req = S.receiver.got.find((r) => r.url === '/hook?user=ann');
        assertEq([req.method, req.body], ['POST', '{"hello":"Ann"}'], 'request received');
        await page.locator('#campaign-sent').filter({ hasText: '1' }).waitFor();
        assertEq(S.receiver.got.filter((r) => r.url.startsWith('/hook')).length, 2, 'requests received (the test send and the campaign\'s)');
        await checkAccessible(page, 'campaign page');
    }],
    ['the campaign screen lists the failing user with its reason, and charts the targeted, sent and failed /campaigns/data_series answers', 'campaign-failures', async ({ page }) => {
        const seg = await api('POST', '/segments/create', { name: 'Everyone identified', filter: { identified: true } });
        assertEq(seg.status, 201, 'segment');
        const c = await api('POST', '/campaigns/create', { name: 'Plan check', segment_id: seg.json.segment_id, schedule: { type: 'immediate' },
            message: { webhook: { url: `${S.receiver.base}/check/{{\${user_id}}}`, method: 'POST', body: '{"plan":"{{custom_attribute.${plan}}}"}' } } });
        assertEq(c.status, 201, 'campaign');
        S.failingCampaign = c.json.campaign_id;
        await login(page);
        await go(page, `#/campaigns/${encodeURIComponent(S.failingCampaign)}`);
        // ann is sent to; bob's request is answered 500 on both attempts
        await page.locator('#campaign-failed').filter({ hasText: /^1$/ }).waitFor();
        await page.locator('#campaign-sent').filter({ hasText: /^1$/ }).waitFor();
        const row = page.locator('#campaigns-failures tbody tr');
        await until('the failure listed', async () => (await row.count()) === 1 && /bob/.test(await row.first().textContent()));
        const cells = await row.first().locator('td').allTextContents();
        const api1 = await api('GET', `/campaigns/failures?campaign_id=${encodeURIComponent(S.failingCampaign)}`);
        assertEq(api1.json.last_failures.map((f) => [f.external_id, f.reason, f.attempts]), [['bob', 'HTTP 500: {"error":"boom"}', 2]], '/campaigns/failures');
        assertEq(cells.slice(0, 3), ['bob', 'HTTP 500: {"error":"boom"}', '2'], 'the failure shown: user, reason, attempts');
        // the chart, drawn on load, against the series the API answers now
        await page.reload();
        await page.locator('#campaign-series svg').waitFor();
        const drawn = await page.evaluate(() => {
            const out = {};
            for (const dot of document.querySelectorAll('#campaign-series circle[data-series]'))
                (out[dot.dataset.series] ||= []).push([dot.dataset.label, Number(dot.dataset.value)]);
            return out;
        });
        const series = await api('GET', `/campaigns/data_series?campaign_id=${encodeURIComponent(S.failingCampaign)}&length=14`);
        assertEq(series.status, 200, 'data_series');
        const day = (d) => d.time.slice(0, 10);
        const want = {
            targeted: series.json.data.map((d) => [day(d), d.unique_recipients]),
            sent: series.json.data.map((d) => [day(d), d.messages.webhook.reduce((a, m) => a + m.sent, 0)]),
            failed: series.json.data.map((d) => [day(d), d.messages.webhook.reduce((a, m) => a + m.errors, 0)]),
        };
        assertEq(drawn, want, 'the chart\'s points (day, value) against /campaigns/data_series');
        const today = want.sent.length - 1;
        assertEq([want.targeted[today][1], want.sent[today][1], want.failed[today][1]], [2, 1, 1], 'today\'s targeted, sent and failed');
        await page.locator('#campaigns-failures').scrollIntoViewIfNeeded();
        await checkAccessible(page, 'campaign with a failure');
    }],
    ['a Canvas made by clicking, with two ordered steps and a delay, sends both steps in order and charts each step\'s sent and failed', 'canvas', async ({ page }) => {
        await login(page);
        await page.getByRole('link', { name: 'Campaigns', exact: true }).click();
        await page.getByRole('link', { name: 'New Canvas' }).click();
        await page.getByLabel('Canvas name').fill('Onboarding');
        await page.getByLabel('Segment', { exact: true }).selectOption({ label: 'Trial users in Free Customers' });
        await page.locator('#canvas-segment-size').filter({ hasText: '1 user' }).waitFor();
        await page.getByLabel('Step name').first().fill('Welcome');
        await page.getByLabel('Webhook URL').first().fill(`${S.receiver.base}/canvas/welcome/{{\${user_id}}}`);
        await page.getByRole('button', { name: 'Add step' }).click();
        await page.getByLabel('Step name').nth(1).fill('Remind');
        await page.getByLabel('Delay after the previous step (seconds)').fill('1');
        await page.getByLabel('Webhook URL').nth(1).fill(`${S.receiver.base}/canvas/remind/{{\${user_id}}}`);
        // the order is the one shown: moved down and back up, Welcome stays first
        await page.getByRole('button', { name: 'Move down' }).click();
        assertEq(await page.getByLabel('Step name').first().inputValue(), 'Remind', 'first step after Move down');
        await page.getByRole('button', { name: 'Move up' }).click();
        assertEq(await page.getByLabel('Step name').first().inputValue(), 'Welcome', 'first step after Move up');
        await page.getByLabel(/^Now/).check();
        await checkAccessible(page, 'Canvas form');
        await page.getByRole('button', { name: 'Create Canvas' }).click();
        await page.getByRole('heading', { name: 'Onboarding' }).waitFor();
        S.canvasId = decodeURIComponent(new URL(page.url()).hash.replace('#/canvas/', ''));
        await page.locator('#canvas-entries').filter({ hasText: /^1$/ }).waitFor();
        await page.locator('#canvas-sent').filter({ hasText: /^2$/ }).waitFor({ timeout: 15000 });
        const welcome = await until('step 1 at the receiver', async () => S.receiver.got.find((r) => r.url === '/canvas/welcome/ann'));
        const remind = await until('step 2 at the receiver', async () => S.receiver.got.find((r) => r.url === '/canvas/remind/ann'));
        if (remind.at - welcome.at < 900) throw new Error(`step 2 came ${remind.at - welcome.at} ms after step 1, before its 1 s delay`);
        const steps = await page.locator('table').filter({ hasText: 'Delay (s)' }).locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.cells].slice(0, 3).map((c) => c.textContent)));
        assertEq(steps, [['1', 'Welcome', '0'], ['2', 'Remind', '1']], 'the Canvas\'s steps');
        const d = await api('GET', `/canvas/details?canvas_id=${encodeURIComponent(S.canvasId)}`);
        assertEq([d.json.entries, d.json.sends, d.json.failures], [1, 2, 0], '/canvas/details counters');
        // the chart and the per-step table, drawn on load, against the step breakdown the API answers now
        await page.reload();
        await page.locator('#canvas-series svg').waitFor();
        const drawn = await page.evaluate(() => {
            const out = {};
            for (const dot of document.querySelectorAll('#canvas-series circle[data-series]'))
                (out[dot.dataset.series] ||= []).push([dot.dataset.label, Number(dot.dataset.value)]);
            return out;
        });
        const series = await api('GET', `/canvas/data_series?canvas_id=${encodeURIComponent(S.canvasId)}&length=14&include_step_breakdown=true`);
        assertEq(series.status, 200, 'canvas data_series');
        const day = (x) => x.time.slice(0, 10);
        const stats = series.json.data.stats;
        const ids = d.json.steps.map((st) => st.id);
        const one = (st, k) => st.messages.webhook.reduce((a, m) => a + m[k], 0);
        const overSteps = (x, k) => ids.reduce((a, id) => a + one(x.step_stats[id], k), 0);
        const want = {
            entries: stats.map((x) => [day(x), x.total_stats.entries]),
            sent: stats.map((x) => [day(x), overSteps(x, 'sent')]),
            failed: stats.map((x) => [day(x), overSteps(x, 'errors')]),
        };
        assertEq(drawn, want, 'the Canvas chart\'s points (day, value) against /canvas/data_series?include_step_breakdown=true');
        const today = stats.length - 1;
        assertEq([want.entries[today][1], want.sent[today][1], want.failed[today][1]], [1, 2, 0], 'today\'s entries, sent and failed');
        const perStep = await page.locator('#canvas-step-stats tbody tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
        const wantSteps = ids.map((id, i) => [String(i + 1), stats[today].step_stats[id].name,
            String(stats.reduce((a, x) => a + one(x.step_stats[id], 'sent'), 0)), String(stats.reduce((a, x) => a + one(x.step_stats[id], 'errors'), 0))]);
        assertEq(perStep, wantSteps, 'the per-step table against the step breakdown');
        assertEq(perStep, [['1', 'Welcome', '1', '0'], ['2', 'Remind', '1', '0']], 'each step sent once');
        await page.locator('#canvas-series').scrollIntoViewIfNeeded();
        await checkAccessible(page, 'Canvas page');
    }],
    ['a Current shows its delivered count moving', 'current', async ({ page }) => {
        await login(page);
        await page.getByRole('link', { name: 'Currents', exact: true }).click();
        await page.getByLabel('Name', { exact: true }).fill('to Heap');
        await page.getByLabel('Type').selectOption('custom_http');
        await page.getByLabel('Endpoint').fill(`${S.receiver.base}/currents`);
        await page.getByLabel('Bearer token').fill('sink-token');
        await page.getByLabel('Batch size').fill('10');
        await page.getByRole('button', { name: 'Create Current' }).click();
        await page.locator('#current-state').filter({ hasText: 'active' }).waitFor();
        const before = Number(await page.locator('#current-delivered').textContent());
        const t = await api('POST', '/users/track', { events: [{ external_id: 'ann', name: 'opened_app', time: new Date().toISOString() }] });
        assertEq(t.status, 201, 'track');
        await until('delivered to move in the page', async () => Number(await page.locator('#current-delivered').textContent()) > before);
        const batch = await until('a batch at the sink', async () => S.receiver.got.find((r) => r.url === '/currents' && r.body.includes('opened_app')));
        assertEq(batch.headers.authorization, 'Bearer sink-token', 'sink authorization');
        await page.getByRole('button', { name: 'Pause' }).click();
        await page.locator('#current-state').filter({ hasText: 'paused' }).waitFor();
        await page.getByRole('button', { name: 'Resume' }).click();
        await page.locator('#current-state').filter({ hasText: 'active' }).waitFor();
        await checkAccessible(page, 'Current page');
    }],
    ['the Heap webhook URL and signing secret from the Heap page take a signed page', null, async ({ page }) => {
        await login(page);
        await page.getByLabel('New webhook name').fill('Heap production');
        await page.getByRole('button', { name: 'Create webhook' }).click();
        await page.getByRole('textbox', { name: /^Signing secret/ }).waitFor();
        const url = await page.getByRole('textbox', { name: 'Webhook URL' }).inputValue();
        const secret = await page.getByRole('textbox', { name: /^Signing secret/ }).inputValue();
        if (!url.startsWith(`${S.base}/heap/webhooks/`)) throw new Error(`webhook URL ${url}`);
        const body = JSON.stringify({ action_type: 'segment.users.sync', data: { segment: { id: 42, name: 'Trial Users' },
            sync_info: { page_number: 1, total_pages: 1, sync_task_id: 't-1' }, add: [{ id: 'ann' }] } });
        const ts = String(Date.now());
        const sig = crypto.createHmac('sha256', secret).update(ts + body).digest('base64');
        const r = await fetch(url, { method: 'POST', headers: { 'Heap-Hash': `ts:${ts},hmac:${sig}` }, body });
        assertEq([r.status, await r.json()], [200, { status: 'ok', ids_received: 1, ids_matched: 1, ids_unmatched: 0, users_added: 1, users_removed: 0 }], 'signed page');
        await page.reload();
        await page.getByText('Pages received: 1').waitFor();
        await page.getByText('Signing secret: stored hashed, not shown again.').waitFor();
    }],
    ['generating a new import key refuses the old one, invalidating refuses every key', null, async ({ page }) => {
        await login(page);
        const old = await page.locator('#import-key').inputValue();
        await page.getByRole('button', { name: 'Generate new key' }).click();
        await page.getByRole('dialog').filter({ hasText: 'stops working' }).waitFor();
        await page.getByRole('button', { name: 'Generate new key' }).last().click();
        const fresh = await until('a new key on the page', async () => {
            const v = await page.locator('#import-key').inputValue();
            return v && v !== old && v;
        });
        const refused = await partnerImport(old, '1338065', 'Free Customers', ['ann']);
        assertEq([refused.status, refused.json], [401, { message: 'Unauthorized access' }], 'import with the old key');
        const ok = await partnerImport(fresh, '1338065', 'Free Customers', ['ann']);
        assertEq(ok.status, 201, 'import with the new key');
        await page.getByRole('button', { name: 'Invalidate key' }).click();
        await page.getByRole('dialog').filter({ hasText: 'refused' }).waitFor();
        await page.getByRole('button', { name: 'Invalidate key' }).last().click();
        await page.locator('#import-key-none').waitFor();
        const none = await partnerImport(fresh, '1338065', 'Free Customers', ['ann']);
        assertEq(none.status, 401, 'import after the key was invalidated');
        const key = await api('GET', '/import_keys/get?partner=heap');
        assertEq(key.json.data_import_key, null, 'key after invalidation');
    }],
    ['a write without the CSRF token is refused', null, async ({ page }) => {
        await login(page);
        const before = (await api('GET', '/segments/list')).json.segments.map((x) => x.name);
        const r = await page.evaluate(async () => {
            const res = await fetch('/segments/create', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ name: 'sneaky', filter: { identified: true } }) });
            return [res.status, await res.json()];
        });
        assertEq(r, [403, { message: 'missing or wrong CSRF token' }], 'write without the token');
        const list = await api('GET', '/segments/list');
        assertEq(list.json.segments.map((x) => x.name), before, 'segments after the refused write');
    }],
    ['every screen at 1280×800 and 390×844: no horizontal scroll, every control named', null, async ({ page, browser }) => {
        const ids = async (p, list, key) => ((await api('GET', p)).json[list] || []).map((x) => x[key]);
        const campaignIds = await ids('/campaigns/list', 'campaigns', 'id');
        const canvasIds = await ids('/canvas/list', 'canvases', 'id');
        const currentIds = await ids('/currents/list', 'currents', 'current_id');
        const segmentIds = await ids('/segments/list', 'segments', 'id');
        const screens = ['#/partners/heap', '#/cohorts', '#/cohorts/heap/1338065', '#/segments', '#/segments/new',
            ...segmentIds.map((x) => `#/segments/${encodeURIComponent(x)}`), '#/campaigns', '#/campaigns/new',
            ...campaignIds.map((x) => `#/campaigns/${encodeURIComponent(x)}`), '#/canvas/new',
            ...canvasIds.map((x) => `#/canvas/${encodeURIComponent(x)}`), '#/currents',
            ...currentIds.map((x) => `#/currents/${encodeURIComponent(x)}`), '#/settings'];
        if (!campaignIds.length || !canvasIds.length || !currentIds.length) throw new Error('a campaign, a Canvas and a Current must exist by now');
        const problems = [];
        const look = async (p, where) => {
            const overflow = await horizontalOverflow(p);
            if (overflow) problems.push(`${where}: ${overflow}`);
            for (const u of await unnamedControls(p)) problems.push(`${where}: ${u}`);
        };
        for (const [w, hgt] of [[1280, 800], [390, 844]]) {
            const ctx2 = await browser.newContext({ viewport: { width: w, height: hgt } });
            const p = await ctx2.newPage();
            p.setDefaultTimeout(10000);
            await p.goto(`${S.base}/dashboard/`);
            await p.getByLabel('Email').waitFor();
            await look(p, `${w}px login`);
            await p.getByLabel('Email').fill(EMAIL);
            await p.getByLabel('Password').fill(PASSWORD);
            await p.getByRole('button', { name: 'Log in' }).click();
            await p.getByRole('heading', { name: 'Heap', exact: true }).waitFor();
            for (const hash of screens) {
                await p.goto(`${S.base}/dashboard/${hash}`);
                await p.locator('main h1').first().waitFor();
                await until(`${hash} loaded`, async () => !(await p.locator('main').textContent()).includes('Loading…'));
                await p.waitForTimeout(0);
                await look(p, `${w}px ${hash}`);
                if (w === 390) await p.screenshot({ path: path.join(outDir, `phone-${hash.replace(/[^a-z0-9]+/gi, '-')}.png`), fullPage: true });
                if (hash === '#/campaigns/new') { // the wizard's other steps
                    await p.getByLabel('Campaign name').fill('Not launched');
                    await p.getByLabel('Webhook URL').fill(`${S.receiver.base}/never`);
                    for (const step of ['Target', 'Schedule', 'Review']) {
                        await p.getByRole('button', { name: 'Next' }).click();
                        await p.getByRole('heading', { name: step }).waitFor();
                        await look(p, `${w}px wizard ${step}`);
                    }
                }
            }
            await ctx2.close();
        }
        if (problems.length) throw new Error(problems.join('; '));
    }],
    ['Settings: a new workspace is switched to, and a user added there can log in as a member', 'settings', async ({ page, browser }) => {
        await login(page);
        await page.getByRole('link', { name: 'Settings', exact: true }).click();
        await page.getByLabel('New workspace name').fill('EU');
        await page.getByRole('button', { name: 'Create workspace' }).click();
        await page.getByLabel('Workspace', { exact: true }).selectOption({ label: 'EU' });
        await page.getByRole('button', { name: 'Switch' }).click();
        await page.locator('#workspace-name').filter({ hasText: 'Workspace: EU' }).waitFor();
        await page.getByRole('link', { name: 'Cohorts', exact: true }).click();
        await page.locator('#cohorts-table').getByText('None yet').waitFor();
        await page.getByRole('link', { name: 'Settings', exact: true }).click();
        await page.getByLabel('Email').fill('member@example.test');
        await page.getByLabel('Role').selectOption('member');
        await page.getByLabel('Password').fill('another long password');
        await page.getByRole('button', { name: 'Add user' }).click();
        await page.getByRole('cell', { name: 'member@example.test', exact: true }).waitFor();
        // REST API keys where the server has the endpoints: a new key shown once works, revoked it is refused
        if ((await api('GET', '/api_keys/list')).status === 200) {
            await page.getByLabel('New key name').fill('from the dashboard');
            await page.getByRole('button', { name: 'Create key' }).click();
            const key = await page.locator('#api-key-new').textContent();
            const withKey = (k) => fetch(`${S.base}/segments/list`, { headers: { Authorization: `Bearer ${k}` } }).then((r) => r.status);
            assertEq(await withKey(key), 200, 'the new key');
            await page.getByRole('button', { name: 'Revoke key from the dashboard' }).click();
            await page.getByRole('button', { name: 'Revoke', exact: true }).click();
            await until('the revoked key refused', async () => (await withKey(key)) === 401);
        } else {
            await page.getByText('REST API keys: not available on this server.').waitFor();
        }
        await checkAccessible(page, 'Settings');
        const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const p2 = await other.newPage();
        await p2.goto(`${S.base}/dashboard/`);
        await p2.getByLabel('Email').fill('member@example.test');
        await p2.getByLabel('Password').fill('another long password');
        await p2.getByRole('button', { name: 'Log in' }).click();
        await p2.locator('#user-email').filter({ hasText: 'member@example.test (member)' }).waitFor();
        await p2.goto(`${S.base}/dashboard/#/settings`);
        await p2.getByText('Only an admin can add or remove users.').waitFor();
        await other.close();
    }],
    ['a logged-out session cannot read anything', null, async ({ page, context }) => {
        await login(page);
        const cookie = (await context.cookies()).find((c) => c.name === 'cohortd_session');
        if (!cookie || !cookie.httpOnly || cookie.sameSite !== 'Strict') throw new Error(`session cookie flags: ${JSON.stringify(cookie)}`);
        await page.getByRole('button', { name: 'Log out' }).click();
        await page.getByRole('heading', { name: 'Log in to cohortd' }).waitFor();
        const inPage = await page.evaluate(async () => (await fetch('/cohorts/list')).status);
        assertEq(inPage, 401, '/cohorts/list from the page after logout');
        const replay = await fetch(`${S.base}/cohorts/list`, { headers: { Cookie: `cohortd_session=${cookie.value}` } });
        assertEq([replay.status, await replay.json()], [401, { message: 'not logged in' }], 'the old cookie replayed');
    }],
];

async function main() {
    fs.mkdirSync(outDir, { recursive: true });
    if (docsShots) fs.mkdirSync(docsShots, { recursive: true });
    S.receiver = await startReceiver();
    const srv = await startServer();
    Object.assign(S, srv);
    const seed = await api('POST', '/users/track', { attributes: [{ external_id: 'ann', first_name: 'Ann', plan: 'trial' }, { external_id: 'bob', plan: 'pro' }] });
    if (seed.status !== 201) throw new Error(`seeding users: ${seed.status} ${seed.text}`);
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
    let failed = 0;
    let ran = 0;
    const t0 = Date.now();
    try {
        for (const [name, shot, fn] of tests) {
            if (only && !name.includes(only)) continue;
            ran += 1;
            const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] });
            const page = await context.newPage();
            page.setDefaultTimeout(10000);
            const errors = [];
            page.on('pageerror', (e) => errors.push(e.message));
            const file = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
            const start = Date.now();
            try {
                await fn({ page, context, browser });
                if (errors.length) throw new Error(`script errors in the page: ${errors.join('; ')}`);
                console.log(`ok   ${name} (${Date.now() - start} ms)`);
            } catch (e) {
                failed += 1;
                console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
                console.log(e.stack.split('\n').slice(1, 4).join('\n'));
            }
            await page.screenshot({ path: path.join(outDir, `${file}.png`), fullPage: true }).catch(() => {});
            if (shot) await docsShot(page, shot).catch(() => {});
            await context.close();
        }
    } finally {
        await browser.close();
        srv.proc.kill('SIGTERM');
        S.receiver.server.close();
        const code = srv.proc.exitCode ?? srv.proc.signalCode ?? await new Promise((r) => srv.proc.on('exit', (c, sig) => r(c ?? sig)));
        fs.rmSync(srv.data, { recursive: true, force: true });
        const log = fs.readFileSync(path.join(outDir, 'cohortd.log'), 'utf8');
        if (code !== 0 || /AddressSanitizer|LeakSanitizer|runtime error:/.test(log)) {
            console.log(`FAIL the server stopped with ${code} or reported a sanitizer error: see ${path.join(outDir, 'cohortd.log')}`);
            failed += 1;
        }
    }
    if (!ran) {
        console.log(`FAIL no test matches ${JSON.stringify(only)}`);
        failed += 1;
    }
    console.log(`${failed ? 'FAILED' : 'passed'}: ${ran - failed}/${ran} in ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${outDir}`);
    process.exit(failed ? 1 : 0);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
