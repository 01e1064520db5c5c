// The JSON API as the dashboard calls it: the session cookie travels by itself, and every
// write carries the session's CSRF token. Answers are {status, ok, data, ms}; a 401 sends the
// user back to the login form.
let csrfToken = '';
let onLoggedOut = () => {};

export function setCsrfToken(token) {
    csrfToken = token || '';
}

export function setLoggedOutHandler(fn) {
    onLoggedOut = fn;
}

export async function call(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
        opts.headers['Content-Type'] = 'application/json';
        opts.headers['X-CSRF-Token'] = csrfToken;
        opts.body = JSON.stringify(body || {});
    }
    const t0 = performance.now();
    let res;
    try {
        res = await fetch(path, opts);
    } catch (e) {
        return { status: 0, ok: false, data: { message: 'the server does not answer' }, ms: 0 };
    }
    const ms = performance.now() - t0;
    let data = {};
    const text = await res.text();
    try {
        data = text ? JSON.parse(text) : {};
    } catch (e) {
        data = { message: text };
    }
    if (res.status === 401 && !path.startsWith('/dashboard/api/login') && !path.startsWith('/dashboard/api/session'))
        onLoggedOut();
    return { status: res.status, ok: res.ok, data, ms };
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);

export function q(params) {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(params))
        if (v !== undefined && v !== null) s.set(k, v);
    return s.toString();
}
