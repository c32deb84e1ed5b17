// Builds the browser UI into dist/ (embedded, pre-compressed, by the lanterm binary).
//
//   dist/index.html            src/index.html, pointing at the hashed assets (relative URLs)
//   dist/manifest.webmanifest  src/manifest.webmanifest, pointing at the hashed icons
//   dist/assets/app-<hash>.js  src/app.js bundled with xterm.js and its addons (esbuild, ES2020)
//   dist/assets/app-<hash>.css xterm.css + src/style.css
//   dist/assets/icon-<hash>.svg, icon-192-<hash>.png, icon-512-<hash>.png
//   X.gz next to every file    gzip level 9
//   dist/assets.json           [{ path, gz, type, immutable }] for the server
//
// <hash> is the first 10 hex digits of the SHA-256 of the content. Exits 1 when the
// compressed total is over the budget.

import { build, transform } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, gzipSync } from 'node:zlib';

const root = dirname(fileURLToPath(import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const BUDGET = 450 * 1024;

const TYPES = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  webmanifest: 'application/manifest+json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
};

const hash = (buf) => createHash('sha256').update(buf).digest('hex').slice(0, 10);
const files = new Map(); // dist path -> { data, immutable }

function emit(path, data, immutable) {
  files.set(path, { data: Buffer.isBuffer(data) ? data : Buffer.from(data), immutable });
}

// name "app.js" -> "assets/app-<hash>.js"
function emitHashed(name, data) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const dot = name.indexOf('.');
  const path = `assets/${name.slice(0, dot)}-${hash(buf)}${name.slice(dot)}`;
  emit(path, buf, true);
  return path;
}

// ---------------------------------------------------------------- JS and CSS

async function bundleJs() {
  const result = await build({
    entryPoints: [join(src, 'app.js')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    charset: 'utf8',
    legalComments: 'eof',
    write: false,
    logLevel: 'warning',
  });
  return result.outputFiles[0].contents;
}

async function bundleCss() {
  const xterm = readFileSync(join(root, 'node_modules/@xterm/xterm/css/xterm.css'), 'utf8');
  const ours = readFileSync(join(src, 'style.css'), 'utf8');
  const result = await transform(`${xterm}\n${ours}`, {
    loader: 'css',
    minify: true,
    target: ['chrome87', 'firefox78', 'safari14', 'edge88'],
    charset: 'utf8',
    legalComments: 'eof',
  });
  return result.code;
}

// ---------------------------------------------------------------- PNG icons
// The same drawing as src/icon.svg (a 512 x 512 canvas): a rounded square, a chevron and a
// cursor bar, rasterised here with 4 x 4 supersampling so the build needs no image library.

const ICON = {
  radius: 104,
  background: [0x16, 0x1b, 0x22],
  shapes: [
    // [color, half stroke width, segments]
    [[0xf5, 0xb9, 0x42], 24, [[136, 168, 248, 256], [248, 256, 136, 344]]],
    [[0xe6, 0xed, 0xf3], 24, [[296, 344, 376, 344]]],
  ],
};

function distToSegment(px, py, [ax, ay, bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

function iconColor(x, y) {
  for (let i = ICON.shapes.length - 1; i >= 0; i--) {
    const [color, half, segs] = ICON.shapes[i];
    if (segs.some((s) => distToSegment(x, y, s) <= half)) return color;
  }
  const r = ICON.radius;
  const qx = Math.max(Math.abs(x - 256) - (256 - r), 0);
  const qy = Math.max(Math.abs(y - 256) - (256 - r), 0);
  return qx * qx + qy * qy <= r * r ? ICON.background : null;
}

function renderIcon(size) {
  const ss = 4;
  const scale = 512 / size;
  const rgba = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let hits = 0;
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const c = iconColor((x + (sx + 0.5) / ss) * scale, (y + (sy + 0.5) / ss) * scale);
          if (!c) continue;
          r += c[0];
          g += c[1];
          b += c[2];
          hits++;
        }
      }
      const o = (y * size + x) * 4;
      if (hits) {
        rgba[o] = Math.round(r / hits);
        rgba[o + 1] = Math.round(g / hits);
        rgba[o + 2] = Math.round(b / hits);
        rgba[o + 3] = Math.round((255 * hits) / (ss * ss));
      }
    }
  }
  return encodePng(size, size, rgba);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    rgba.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------- pages

// Replaces every attribute value "NAME" by its hashed path; `required` names must occur.
function rewrite(text, map, required, what) {
  let out = text;
  for (const [from, to] of Object.entries(map)) {
    const needle = `"${from}"`;
    if (!out.includes(needle)) {
      if (required.includes(from)) throw new Error(`${what} does not reference ${from}`);
      continue;
    }
    out = out.split(needle).join(`"${to}"`);
  }
  return out;
}

async function main() {
  rmSync(dist, { recursive: true, force: true });

  const names = {
    'app.js': emitHashed('app.js', await bundleJs()),
    'app.css': emitHashed('app.css', await bundleCss()),
    'icon.svg': emitHashed('icon.svg', readFileSync(join(src, 'icon.svg'))),
    'icon-192.png': emitHashed('icon-192.png', renderIcon(192)),
    'icon-512.png': emitHashed('icon-512.png', renderIcon(512)),
  };

  const html = readFileSync(join(src, 'index.html'), 'utf8');
  emit('index.html', rewrite(html, names, ['app.js', 'app.css'], 'src/index.html'), false);

  const manifest = JSON.parse(readFileSync(join(src, 'manifest.webmanifest'), 'utf8'));
  for (const icon of manifest.icons) {
    if (!names[icon.src]) throw new Error(`manifest icon ${icon.src} is not built`);
    icon.src = names[icon.src];
  }
  emit('manifest.webmanifest', `${JSON.stringify(manifest, null, 2)}\n`, false);

  // write, compress, list
  const entries = [];
  const rows = [];
  let total = 0;
  let totalRaw = 0;
  for (const [path, { data, immutable }] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    const file = join(dist, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
    const gz = gzipSync(data, { level: 9 });
    writeFileSync(`${file}.gz`, gz);
    const ext = path.slice(path.lastIndexOf('.') + 1);
    if (!TYPES[ext]) throw new Error(`no content type for ${path}`);
    entries.push({ path, gz: `${path}.gz`, type: TYPES[ext], immutable });
    rows.push([path, data.length, gz.length]);
    total += gz.length;
    totalRaw += data.length;
  }
  writeFileSync(join(dist, 'assets.json'), `${JSON.stringify(entries, null, 2)}\n`);

  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const width = Math.max(...rows.map(([p]) => p.length), 5);
  console.log(`${'file'.padEnd(width)}  ${'size'.padStart(10)}  ${'gzip'.padStart(10)}`);
  for (const [p, raw, gz] of rows) console.log(`${p.padEnd(width)}  ${kib(raw).padStart(10)}  ${kib(gz).padStart(10)}`);
  console.log(`${'total'.padEnd(width)}  ${kib(totalRaw).padStart(10)}  ${kib(total).padStart(10)}`);
  console.log(`compressed total: ${total} bytes (${kib(total)}; budget ${kib(BUDGET)})`);
  if (total > BUDGET) {
    console.error(`build.mjs: the compressed total ${kib(total)} is over the budget of ${kib(BUDGET)}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(`build.mjs: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
