#!/usr/bin/env node
// Generates the Hugging Face `tokenizers` reference fixtures that fuselm's tokenizer tests check against.
//
//   cd benchmarks/tokenizer && npm ci && node generate-fixtures.js [DATA_DIR] [OUT_DIR]
//
// DATA_DIR defaults to ../../../shared/data (the shared read-only data: tokenizer-corpus.txt, gpt2/, bert/),
// OUT_DIR to ../../src/test/resources/tokenizer. The reference pipelines are exactly the ones the issue names:
//   BERT:  WordPiece.fromFile(vocab.txt) + bertNormalizer({lowercase}) + bertPreTokenizer()
//   GPT-2: BPE.fromFile(encoder.json, vocab.bpe) + byteLevelPreTokenizer(addPrefixSpace=false, useRegex=true)
// Outputs (all gzip):
//   hf-<name>-corpus.ids.gz   ids of the whole corpus encoded as ONE string, as unsigned LEB128 varints
//   hf-bert-cases.json.gz     single texts, sentence pairs with truncation/padding, and seeded fuzz strings,
//                             each with the expected ids / type ids / attention mask for both BERT vocabularies
//   hf-gpt2-fuzz.json.gz      seeded fuzz strings with the HF byte-level BPE ids
//   hf-bert-unicode.json.gz   per-code-point behaviour of bertNormalizer / bertPreTokenizer (every code point
//                             except surrogates), so tests can pin down each character class fuselm uses
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const tk = require('tokenizers');

const DATA = path.resolve(process.argv[2] || path.join(__dirname, '../../../shared/data'));
const OUT = path.resolve(process.argv[3] || path.join(__dirname, '../../src/test/resources/tokenizer'));
fs.mkdirSync(OUT, { recursive: true });

function writeGz(name, buf) {
  const gz = zlib.gzipSync(buf, { level: 9 });
  fs.writeFileSync(path.join(OUT, name), gz);
  console.log(`${name}: ${buf.length} bytes raw, ${gz.length} gzipped`);
}

function varints(ids) {
  const out = Buffer.alloc(ids.length * 5);
  let n = 0;
  for (let v of ids) {
    while (v >= 0x80) { out[n++] = (v & 0x7f) | 0x80; v >>>= 7; }
    out[n++] = v;
  }
  return out.subarray(0, n);
}

// mulberry32: a tiny seeded PRNG so the fuzz strings are reproducible.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Seeded adversarial strings: random code points from every plane (no lone surrogates: JS strings can hold
// them but Rust strings cannot), emoji ZWJ sequences, whitespace runs (incl. U+0085, U+FEFF, U+3000),
// digit runs, contractions in every case, accents, CJK, control characters, long words.
function fuzzStrings(seed, count) {
  const r = rng(seed);
  const pick = (arr) => arr[Math.floor(r() * arr.length)];
  const ws = [' ', ' ', ' ', '\t', '\n', '\r', '\r\n', '\u000b', '\u000c', '\u0085', '\u00a0', '\u1680', '\u2000',
    '\u2007', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '\u001c', '\u001f', '\u200b'];
  const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'mM", "'LL", "'D",
    "\u2019s", "\u2019LL", "''", "'"];
  const words = ['hello', 'World', 'don', 'I', 'caf\u00e9', 'na\u0131\u0308ve', '\u00c5ngstr\u00f6m', 'stra\u00dfe',
    '\u0130stanbul', '\u03a3\u039f\u03a6\u039f\u03a3', '\u4e2d\u6587\u5b57', '\u65e5\u672c\u8a9e\u306e\u6587',
    '\ud55c\uad6d\uc5b4', '\u0645\u0631\u062d\u0628\u0627', '\u0928\u092e\u0938\u094d\u0924\u0947',
    'x\u0301\u0302\u0303', 'supercalifragilisticexpialidocious', 'ABCdef123', '\u2160\u2161\u2162',
    '\u0661\u0662\u0663', '\ud835\udc00\ud835\udc01', 'e\u0301', 'unaffable', '[CLS]', '[SEP]', '<|endoftext|>'];
  const emoji = ['\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466}', '\u{1F3F3}\ufe0f\u200d\u{1F308}',
    '\u{1F44D}\u{1F3FD}', '\u{1F1FA}\u{1F1F8}', '1\ufe0f\u20e3', '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}',
    '\u{1F970}', '\u{1FAE0}', '\u2764\ufe0f'];
  const randomCp = () => {
    for (;;) {
      const plane = Math.floor(r() * 17);
      let cp;
      const u = r();
      if (u < 0.35) cp = Math.floor(r() * 0x80);
      else if (u < 0.7) cp = Math.floor(r() * 0x10000);
      else cp = plane * 0x10000 + Math.floor(r() * 0x10000);
      if (cp >= 0xd800 && cp < 0xe000) continue;
      return String.fromCodePoint(cp);
    }
  };
  const out = [];
  for (let i = 0; i < count; i++) {
    const parts = [];
    const n = 1 + Math.floor(r() * 24);
    for (let j = 0; j < n; j++) {
      const k = r();
      if (k < 0.2) parts.push(randomCp());
      else if (k < 0.35) parts.push(pick(ws).repeat(1 + Math.floor(r() * (r() < 0.1 ? 200 : 4))));
      else if (k < 0.45) parts.push(pick(contractions));
      else if (k < 0.6) parts.push(pick(words));
      else if (k < 0.68) parts.push(pick(emoji));
      else if (k < 0.76) { let d = ''; const len = 1 + Math.floor(r() * (r() < 0.1 ? 300 : 8)); for (let q = 0; q < len; q++) d += String(Math.floor(r() * 10)); parts.push(d); }
      else if (k < 0.84) parts.push(pick(['.', ',', '!', '?', '...', '--', '$', '\u00bf', '\u3002', '\u300c', '\u2014', '@#%', '`~', '\u00b0']));
      else if (k < 0.88) parts.push('a'.repeat(90 + Math.floor(r() * 20)));
      else parts.push(randomCp() + randomCp() + randomCp());
    }
    out.push(parts.join(''));
  }
  return out;
}

function codePoints(s) { return Array.from(s, (c) => c.codePointAt(0)); }

// Collapses a sorted list of code points into [start, end] ranges.
function ranges(cps) {
  const out = [];
  for (const cp of cps) {
    const last = out[out.length - 1];
    if (last && last[1] === cp - 1) last[1] = cp; else out.push([cp, cp]);
  }
  return out;
}

function unicodeProbe() {
  const clean = tk.bertNormalizer({ cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false });
  const cjk = tk.bertNormalizer({ cleanText: false, handleChineseChars: true, stripAccents: false, lowercase: false });
  const strip = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false });
  const lower = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true });
  const both = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: true });
  const pre = tk.bertPreTokenizer();
  const removed = [], toSpace = [], chinese = [], punct = [], splitWs = [];
  const stripMap = {}, lowerMap = {}, bothMap = {};
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    const s = String.fromCodePoint(cp);
    const c = clean.normalizeString(s);
    if (c === '') removed.push(cp); else if (c === ' ' && s !== ' ') toSpace.push(cp);
    if (cjk.normalizeString(s) === ' ' + s + ' ') chinese.push(cp);
    const p = pre.preTokenizeString('a' + s + 'a');
    if (p.length === 3) punct.push(cp); else if (p.length === 2) splitWs.push(cp);
    const st = strip.normalizeString(s); if (st !== s) stripMap[cp] = codePoints(st);
    const lo = lower.normalizeString(s); if (lo !== s) lowerMap[cp] = codePoints(lo);
    const bo = both.normalizeString(s); if (bo !== s) bothMap[cp] = codePoints(bo);
  }
  return { removed: ranges(removed), toSpace: ranges(toSpace), chinese: ranges(chinese), punct: ranges(punct),
    splitWhitespace: ranges(splitWs), stripAccents: stripMap, lowercase: lowerMap, stripAccentsLowercase: bothMap };
}

async function bert(vocabFile, lowercase) {
  const model = await tk.WordPiece.fromFile(vocabFile, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const t = new tk.Tokenizer(model);
  t.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase }));
  t.setPreTokenizer(tk.bertPreTokenizer());
  return t;
}

async function encodeIds(t, text, pair, addSpecial) {
  const e = await t.encode(text, pair === undefined ? null : pair, { addSpecialTokens: addSpecial });
  return e;
}

async function main() {
  const corpus = fs.readFileSync(path.join(DATA, 'tokenizer-corpus.txt'), 'utf8');
  const lines = corpus.split('\n');

  writeGz('hf-bert-unicode.json.gz', Buffer.from(JSON.stringify(unicodeProbe())));

  const fuzz = fuzzStrings(20240607, 1500);

  // GPT-2 through HF byte-level BPE: a second, independent oracle next to JTokkit.
  const bpe = await tk.BPE.fromFile(path.join(DATA, 'gpt2/encoder.json'), path.join(DATA, 'gpt2/vocab.bpe'));
  const gpt2 = new tk.Tokenizer(bpe);
  gpt2.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
  writeGz('hf-gpt2-corpus.ids.gz', varints((await gpt2.encode(corpus, null, { addSpecialTokens: false })).getIds()));
  const gpt2Fuzz = [];
  for (const s of fuzz) gpt2Fuzz.push({ text: s, ids: (await gpt2.encode(s, null, { addSpecialTokens: false })).getIds() });
  writeGz('hf-gpt2-fuzz.json.gz', Buffer.from(JSON.stringify(gpt2Fuzz)));

  const cases = { vocabularies: {} };
  for (const [name, file, lc] of [['bert-base-uncased', 'bert/bert-base-uncased-vocab.txt', true],
    ['bert-base-cased', 'bert/bert-base-cased-vocab.txt', false]]) {
    const t = await bert(path.join(DATA, file), lc);
    writeGz(`hf-${name}-corpus.ids.gz`, varints((await t.encode(corpus, null, { addSpecialTokens: false })).getIds()));
    const entry = { fuzz: [], singles: [], pairs: [] };
    for (const s of fuzz) entry.fuzz.push({ text: s, ids: (await t.encode(s, null, { addSpecialTokens: false })).getIds() });

    // Sentence pairs and single texts with [CLS]/[SEP], longest-first truncation and padding, as BertTokenizerFast does.
    t.setPostProcessor(tk.bertProcessing(['[SEP]', t.tokenToId('[SEP]')], ['[CLS]', t.tokenToId('[CLS]')]));
    const r = rng(lc ? 7 : 11);
    const picks = [];
    for (let i = 0; i < 400; i++) picks.push([lines[Math.floor(r() * lines.length)], lines[Math.floor(r() * lines.length)]]);
    picks.push(['', ''], ['Hello, world!', ''], ['', 'only the second'], ['short', 'a much much much longer second sentence that goes on']);
    for (const [maxLength, padTo] of [[0, 0], [16, 16], [32, 48], [9, 0], [3, 0], [5, 5]]) {
      if (maxLength > 0) t.setTruncation(maxLength, { strategy: 'LongestFirst' }); else t.disableTruncation();
      if (padTo > 0) t.setPadding({ maxLength: padTo, padId: t.tokenToId('[PAD]'), padToken: '[PAD]', padTypeId: 0 }); else t.disablePadding();
      for (let i = 0; i < picks.length; i += (maxLength === 0 ? 4 : 1)) {
        const [a, b] = picks[i];
        const e = await t.encode(a, b, { addSpecialTokens: true });
        entry.pairs.push({ a, b, maxLength, padTo, ids: e.getIds(), typeIds: e.getTypeIds(), attentionMask: e.getAttentionMask() });
        if (i % 2 === 0) {
          const s = await t.encode(a, null, { addSpecialTokens: true });
          entry.singles.push({ a, maxLength, padTo, ids: s.getIds(), typeIds: s.getTypeIds(), attentionMask: s.getAttentionMask() });
        }
      }
    }
    cases.vocabularies[name] = entry;
  }
  writeGz('hf-bert-cases.json.gz', Buffer.from(JSON.stringify(cases)));
}

main().catch((e) => { console.error(e); process.exit(1); });
