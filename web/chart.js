// A line chart drawn as SVG: points [{label, value}], a y axis from 0 to the largest value,
// and a text alternative listing the points for screen readers.
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
}

export function lineChart(title, points) {
    const w = 640, hgt = 220, left = 48, right = 12, top = 12, bottom = 32;
    const max = Math.max(1, ...points.map((p) => p.value));
    const x = (i) => left + (points.length < 2 ? (w - left - right) / 2 : (i * (w - left - right)) / (points.length - 1));
    const y = (v) => top + (hgt - top - bottom) * (1 - v / max);
    const root = svg('svg', { viewBox: `0 0 ${w} ${hgt}`, role: 'img', class: 'chart', 'aria-label': title });
    root.appendChild(svg('title', {}, title));
    root.appendChild(svg('desc', {}, points.map((p) => `${p.label}: ${p.value}`).join(', ')));
    for (const v of [0, max / 2, max]) {
        root.appendChild(svg('line', { x1: left, x2: w - right, y1: y(v), y2: y(v), class: 'grid' }));
        root.appendChild(svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(Math.round(v))));
    }
    if (points.length) {
        root.appendChild(svg('polyline', { points: points.map((p, i) => `${x(i)},${y(p.value)}`).join(' '), class: 'line' }));
        points.forEach((p, i) => root.appendChild(svg('circle', { cx: x(i), cy: y(p.value), r: 3, class: 'dot' })));
        const step = Math.max(1, Math.ceil(points.length / 6));
        points.forEach((p, i) => {
            if (i % step === 0 || i === points.length - 1)
                root.appendChild(svg('text', { x: x(i), y: hgt - 10, 'text-anchor': 'middle', class: 'axis' }, p.label));
        });
    }
    return root;
}
