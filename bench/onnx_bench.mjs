// ONNX Runtime side of bench/compare.sh: times the ONNX exports of the reference models
// (python/compare_prepare.py) with onnxruntime-node on one thread, and writes every case's
// logits and slates for the cross-check.
//
//   node bench/onnx_bench.mjs --ort DIR --data DIR --json OUT.json [--sizes 20 50 100 200]
//        [--runs 200] [--warmup 20] [--min-seconds 0.5]
//
// --ort is the directory holding node_modules/onnxruntime-node (installed there with
// `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0`); --data is the output
// directory of compare_prepare.py (inputs.safetensors, onnx/*.onnx).
//
// Sessions: intraOpNumThreads 1, interOpNumThreads 1, executionMode sequential,
// graphOptimizationLevel all, CPU execution provider. Cases (each run rotates over the 16
// requests of its N; sessions are created and warmed up before timing):
//   nar_greedy/N             one run of nar_greedy_N.onnx (student forward + masked greedy)
//   nar_batch32/50           one run of nar_batch32_50.onnx (32 requests; the table divides by 32)
//   ar_greedy/N, ar1_greedy/N        the teacher (2- and 1-layer decoder) as an encode run and L
//                            step runs with KV-cache inputs/outputs (the outputs of step t are fed
//                            as the inputs of step t+1 without copies)
//   ar_greedy_graph/N, ar1_greedy_graph/N  the whole greedy decode as one graph
// Times: wall clock (process.hrtime) and process CPU time (process.cpuUsage) per run, medians
// over at least --runs runs and --min-seconds of wall time after --warmup runs.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
    const a = { sizes: [20, 50, 100, 200], runs: 200, warmup: 20, minSeconds: 0.5 };
    for (let i = 0; i < argv.length; ++i) {
        const k = argv[i];
        const next = () => {
            if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
            return argv[++i];
        };
        if (k === '--ort') a.ort = next();
        else if (k === '--data') a.data = next();
        else if (k === '--json') a.json = next();
        else if (k === '--runs') a.runs = Number(next());
        else if (k === '--warmup') a.warmup = Number(next());
        else if (k === '--min-seconds') a.minSeconds = Number(next());
        else if (k === '--sizes') {
            a.sizes = [];
            while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) a.sizes.push(Number(argv[++i]));
        } else throw new Error(`unknown argument ${k}`);
    }
    if (!a.ort || !a.data || !a.json) throw new Error('usage: onnx_bench.mjs --ort DIR --data DIR --json OUT.json');
    return a;
}

// Minimal safetensors reader (F32 / I64 tensors): {name: {shape, data}}.
function readSafetensors(file) {
    const buf = fs.readFileSync(file);
    const hlen = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
    const base = 8 + hlen;
    const out = {};
    for (const [name, e] of Object.entries(header)) {
        if (name === '__metadata__') continue;
        const [b, end] = e.data_offsets;
        const bytes = new Uint8Array(buf.subarray(base + b, base + end));  // a copy, aligned
        if (e.dtype === 'F32') out[name] = { shape: e.shape, data: new Float32Array(bytes.buffer) };
        else if (e.dtype === 'I64') out[name] = { shape: e.shape, data: new BigInt64Array(bytes.buffer) };
        else throw new Error(`${file}: tensor ${name} has dtype ${e.dtype}`);
    }
    return out;
}

function median(v) {
    const s = [...v].sort((x, y) => x - y);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

async function timeCase(fn, count, a) {
    for (let i = 0; i < a.warmup; ++i) await fn(i % count);
    const wall = [], cpu = [];
    let total = 0;
    for (let i = 0; wall.length < a.runs || total < a.minSeconds; ++i) {
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await fn(i % count);
        const dt = Number(process.hrtime.bigint() - t0) * 1e-9;
        const c = process.cpuUsage(c0);
        wall.push(dt);
        cpu.push((c.user + c.system) * 1e-6);
        total += dt;
    }
    return { median_s: median(wall), cpu_median_s: median(cpu), min_s: Math.min(...wall), max_s: Math.max(...wall),
             runs: wall.length };
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const require = createRequire(path.join(path.resolve(a.ort), 'package.json'));
    const ort = require('onnxruntime-node');
    const ortVersion = require('onnxruntime-node/package.json').version;
    const { InferenceSession, Tensor } = ort;
    const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
                   graphOptimizationLevel: 'all', executionProviders: ['cpu'] };
    const open = (name) => InferenceSession.create(path.join(a.data, 'onnx', name), opts);
    const inputs = readSafetensors(path.join(a.data, 'inputs.safetensors'));
    const L = 10;

    // request r of a [R, N, F] / [R, Fc] pair as [1, N, F] / [1, Fc] tensors
    const requests = (xname, cname) => {
        const x = inputs[xname], c = inputs[cname];
        const [R, N, F] = x.shape, Fc = c.shape[1];
        const out = [];
        for (let r = 0; r < R; ++r)
            out.push({ x: new Tensor('float32', x.data.slice(r * N * F, (r + 1) * N * F), [1, N, F]),
                       ctx: new Tensor('float32', c.data.slice(r * Fc, (r + 1) * Fc), [1, Fc]) });
        return out;
    };
    const toSlate = (t) => Array.from(t.data, Number);
    const cases = {}, outputs = {};
    const record = async (key, count, fn) => {
        // check pass: every request once, outputs kept for the cross-check
        const res = { slates: [], logits: [] };
        for (let r = 0; r < count; ++r) {
            const o = await fn(r);
            res.slates.push(o.slate);
            res.logits.push(Array.from(o.logits));
        }
        outputs[key] = res;
        const t = await timeCase(fn, count, a);
        cases[key] = t;
        console.log(`${key.padEnd(28)} median ${(1e6 * t.median_s).toFixed(1).padStart(9)} us wall, ` +
                    `${(1e6 * t.cpu_median_s).toFixed(1).padStart(9)} us CPU (${t.runs} runs)`);
    };

    for (const N of a.sizes) {
        const reqs = requests(`x.${N}`, `ctx.${N}`);
        const nar = await open(`nar_greedy_${N}.onnx`);
        await record(`nar_greedy/${N}`, reqs.length, async (r) => {
            const o = await nar.run(reqs[r]);
            return { slate: toSlate(o.slate), logits: o.Z.data };
        });
        for (const [teacher, tag] of [['ar_teacher', 'ar'], ['ar_teacher_1dec', 'ar1']]) {
            const enc = await open(`${teacher}_encode_${N}.onnx`);
            const step = await open(`${teacher}_step_${N}.onnx`);
            const nb = enc.outputNames.filter((n) => n.startsWith('mem_k')).length;
            const d = (await enc.run(reqs[0])).H.dims[1];  // model width
            const empty = new Tensor('float32', new Float32Array(0), [0, d]);
            const tIn = Array.from({ length: L }, (_, t) => new Tensor('int64', BigInt64Array.from([BigInt(t)]), [1]));
            const kvNames = [];
            for (let j = 0; j < nb; ++j) kvNames.push(`k${j}`, `v${j}`);
            const logits = new Float32Array(L * N);
            await record(`${tag}_greedy/${N}`, reqs.length, async (r) => {
                const e = await enc.run(reqs[r]);
                // the last two outputs are `used` and `h` (constants: the exporter may rename them)
                const on = enc.outputNames;
                const feeds = { h: e[on[on.length - 1]], used: e[on[on.length - 2]], keys: e.keys, H: e.H };
                for (const kv of kvNames) {
                    feeds[`mem_${kv}`] = e[`mem_${kv}`];
                    feeds[`past_${kv}`] = empty;
                }
                const slate = [];
                for (let t = 0; t < L; ++t) {
                    feeds.t = tIn[t];
                    const o = await step.run(feeds);
                    slate.push(Number(o.item.data[0]));
                    logits.set(o.z.data, t * N);
                    feeds.h = o.new_h;
                    feeds.used = o.new_used;
                    for (const kv of kvNames) feeds[`past_${kv}`] = o[`present_${kv}`];
                }
                return { slate, logits };
            });
            const graph = await open(`${teacher}_greedy_${N}.onnx`);
            await record(`${tag}_greedy_graph/${N}`, reqs.length, async (r) => {
                const o = await graph.run(reqs[r]);
                return { slate: toSlate(o.slate), logits: o.Z.data };
            });
        }
    }
    if (inputs['batch.x']) {
        const bx = inputs['batch.x'], bc = inputs['batch.ctx'];
        const feeds = { x: new Tensor('float32', bx.data, bx.shape), ctx: new Tensor('float32', bc.data, bc.shape) };
        const [B, N] = bx.shape;
        const sess = await open(`nar_batch${B}_${N}.onnx`);
        await record(`nar_batch${B}/${N}`, 1, async () => {
            const o = await sess.run(feeds);
            const s = toSlate(o.slates);
            return { slate: s, logits: o.Z.data };  // all B slates [B*L] and logits [B*L*N] as one entry
        });
    }
    // onnxruntime-node's session.run() calls the native run inside setImmediate (one event-loop
    // turn per call); its cost alone, for the reader of the AR step-graph figures (L + 1 calls)
    const hop = await timeCase(() => new Promise((resolve) => setImmediate(resolve)), 1, a);
    const doc = { onnxruntime: ortVersion, run_hop: hop, node: process.version,
                  session: { intra_op_num_threads: 1, inter_op_num_threads: 1, execution_mode: 'sequential',
                             graph_optimization_level: 'all', execution_provider: 'cpu' },
                  cases, outputs };
    fs.writeFileSync(a.json, JSON.stringify(doc));
    console.log(`onnxruntime-node ${ortVersion} (node ${process.version}), one thread`);
}

main().catch((e) => {
    console.error(`onnx_bench: ${e.stack || e}`);
    process.exit(1);
});
