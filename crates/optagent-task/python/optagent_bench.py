"""optagent's GPU timing harness for workloads of CUDA tasks (docs/task-format.md, "GPU timing").

A workload script imports this module *before* the code under optimization and calls `run`:

    import optagent_bench as ob          # first: it keeps its own references to the clocks
    import mypackage

    def make_inputs(seed, device):       # fresh inputs for one trial, from one seed
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(1024, 1024, generator=g).to(device)]

    ob.run(make_inputs, lambda x: mypackage.op(x))

What it does, in one process (the evaluator still runs each repetition as a fresh process and
gives the verdict by its own rules):

- the device: `OPTAGENT_DEVICE` ("cuda" or "cpu") when set, else CUDA when torch sees a GPU, else
  the CPU. Without CUDA the timer is the host's `time.perf_counter` around a synchronous call, and
  it says so (a line on stderr and `"timer": "host"` in the output).
- warm-up calls, then `trials` timed calls, each on *fresh* inputs made from its own seed
  (derived from `OPTAGENT_SEED`), so an output reused from an earlier call is a wrong result.
- on CUDA, per trial: a device synchronize, an L2 flush (a buffer of twice the device's L2 size
  written), a synchronize, then CUDA events recorded around the call on the stream that was
  current when `run` began (the harness's own, whatever stream the code leaves current) and a
  synchronize of the whole device; the trial's time is the events' elapsed time.
- the outputs are reduced on the device and the figures moved to the host (shape, dtype, sums, a few samples) into the
  `result` the evaluator compares with the baseline's (`[measure] rtol/atol`); with a
  `reference`, each trial's output is also compared element-wise with the reference's output on
  an untouched copy of the same inputs (computed after the timed call, so the code under test
  cannot read it), and a difference beyond `rtol`/`atol` fails the run.
- integrity checks, reported as `"integrity": [{"kind", "detail"}]` in the output, which the
  evaluator turns into flags (docs/integrity.md): `input_mutated` (an input changed by the call),
  `stream_escape` (the device-synchronized host time of a trial far exceeds its events' time: work
  left running on another stream), `stream_changed` (a call, warm-up included, left another stream current),
  `harness_tampered` (torch's synchronize/Event or the host clock rebound while the code ran),
  `output_aliases_input` (the output shares memory with an input).

The output is the workload protocol's `{"seconds", "result"}` in `$OPTAGENT_OUTPUT`, plus
`timer`, `trials_s` (every trial's seconds) and `integrity`. `seconds` is the median trial.
With `OPTAGENT_SETUP_ONLY=1` it makes the inputs and the callable and exits before any call.
"""

import hashlib
import json
import os
import statistics
import sys
import time

# The harness's own references, taken before the code under test is imported.
_perf_counter = time.perf_counter

try:
    import torch as _torch
except Exception as _exc:  # ImportError, or a broken installation
    sys.stderr.write("optagent_bench: cannot import torch (%s)\n" % _exc)
    sys.exit(3)

_cuda_sync = _torch.cuda.synchronize
_cuda_event = _torch.cuda.Event
_event_record = _torch.cuda.Event.record
_event_elapsed = _torch.cuda.Event.elapsed_time
_current_stream = _torch.cuda.current_stream

# A trial whose synchronized host time exceeds its event time by more than both of these is
# flagged `stream_escape` (launch overheads and the synchronize cost tens of microseconds).
STREAM_RATIO = 2.0
STREAM_SLACK_S = 1e-3


def seed_of(k, base=None):
    """The seed of input stream `k`: `k + 1000003 * OPTAGENT_SEED` (docs/task-format.md)."""
    if base is None:
        base = int(os.environ.get("OPTAGENT_SEED", "0") or "0")
    return (k + 1000003 * base) % (2**63)


def device():
    """The device workloads run on: `OPTAGENT_DEVICE` when set, else CUDA when available."""
    want = os.environ.get("OPTAGENT_DEVICE", "").strip().lower()
    if want not in ("", "cuda", "cpu"):
        sys.stderr.write("optagent_bench: OPTAGENT_DEVICE=%r, expected cuda or cpu\n" % want)
        sys.exit(2)
    if want == "cuda" or (want == "" and _torch.cuda.is_available()):
        if not _torch.cuda.is_available():
            sys.stderr.write(
                "optagent_bench: OPTAGENT_DEVICE=cuda but torch %s sees no CUDA device\n"
                % _torch.__version__
            )
            sys.exit(3)
        return _torch.device("cuda")
    return _torch.device("cpu")


def write_output(payload):
    path = os.environ.get("OPTAGENT_OUTPUT", "bench-output.json")
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f)


def _tensors(x):
    """The tensors in `x` (a tensor, or nested lists/tuples/dicts of them), in order."""
    if isinstance(x, _torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _tensors(v)]
    if isinstance(x, dict):
        return [t for k in sorted(x) for t in _tensors(x[k])]
    return []


def _clone(x):
    if isinstance(x, _torch.Tensor):
        return x.detach().clone()
    if isinstance(x, (list, tuple)):
        return type(x)(_clone(v) for v in x)
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    return x


def _bits(t):
    """A tensor's bytes, as a flat uint8 tensor on its own device (NaNs compare as bits)."""
    t = t.detach().contiguous().reshape(-1)
    return t.view(_torch.uint8) if t.numel() else t.to(_torch.uint8)


def _same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and _torch.equal(_bits(a), _bits(b))


def _to_host(x):
    if isinstance(x, _torch.Tensor):
        return x.detach().to("cpu").clone()
    if isinstance(x, (list, tuple)):
        return type(x)(_to_host(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_host(v) for k, v in x.items()}
    return x


def summarize(out):
    """A JSON summary of an output (on the host): per tensor its shape, dtype, the sum of
    absolute values and of squares, and six samples, in float64."""
    if isinstance(out, _torch.Tensor):
        flat = out.detach().reshape(-1).to(_torch.float64)  # on its own device
        n = flat.numel()
        picks = sorted({0, n // 7, n // 3, n // 2, (2 * n) // 3, n - 1}) if n else []
        return {
            "shape": list(out.shape),
            "dtype": str(out.dtype).replace("torch.", ""),
            "abs_sum": flat.abs().sum().item() if n else 0.0,
            "sq_sum": (flat * flat).sum().item() if n else 0.0,
            "sample": [flat[i].item() for i in picks],
        }
    if isinstance(out, (list, tuple)):
        return [summarize(v) for v in out]
    if isinstance(out, dict):
        return {str(k): summarize(out[k]) for k in sorted(out)}
    if out is None or isinstance(out, (bool, int, float, str)):
        return out
    raise TypeError("optagent_bench: cannot summarize an output of type %s" % type(out).__name__)


def compare(expected, got, rtol, atol, where="output"):
    """None when `got` matches `expected` (torch.allclose per tensor, same shapes), else why not."""
    if isinstance(expected, _torch.Tensor):
        if not isinstance(got, _torch.Tensor):
            return "%s: expected a tensor, got %s" % (where, type(got).__name__)
        if tuple(expected.shape) != tuple(got.shape):
            return "%s: shape %s, expected %s" % (where, tuple(got.shape), tuple(expected.shape))
        e = expected.detach()
        g = got.detach().to(e.device)
        if e.dtype != g.dtype:
            g = g.to(e.dtype)
        if not _torch.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
            diff = (g.double() - e.double()).abs()
            diff = diff[~diff.isnan()] if diff.numel() else diff
            worst = diff.max().item() if diff.numel() else float("nan")
            return "%s: differs from the reference beyond rtol=%g atol=%g (max abs diff %.3g)" % (
                where, rtol, atol, worst)
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return "%s: expected a sequence of %d, got %r" % (where, len(expected), type(got).__name__)
        for i, (e, g) in enumerate(zip(expected, got)):
            why = compare(e, g, rtol, atol, "%s[%d]" % (where, i))
            if why:
                return why
        return None
    if expected != got:
        return "%s: %r, expected %r" % (where, got, expected)
    return None


class _Flags:
    def __init__(self):
        self.items = []
        self.seen = set()

    def add(self, kind, detail):
        if kind in self.seen:
            return
        self.seen.add(kind)
        self.items.append({"kind": kind, "detail": detail})
        sys.stderr.write("optagent_bench: integrity: %s: %s\n" % (kind, detail))


def _tampered():
    """What of torch's synchronize/Event or the host clock was rebound since import."""
    bad = []
    if time.perf_counter is not _perf_counter:
        bad.append("time.perf_counter")
    if _torch.cuda.synchronize is not _cuda_sync:
        bad.append("torch.cuda.synchronize")
    if _torch.cuda.Event is not _cuda_event:
        bad.append("torch.cuda.Event")
    if _cuda_event.record is not _event_record:
        bad.append("torch.cuda.Event.record")
    if _cuda_event.elapsed_time is not _event_elapsed:
        bad.append("torch.cuda.Event.elapsed_time")
    if _torch.cuda.current_stream is not _current_stream:
        bad.append("torch.cuda.current_stream")
    return bad


class _L2Flush:
    """Writes a buffer of twice the device's L2 cache size (at least 64 MiB)."""

    def __init__(self, dev):
        size = 0
        try:
            size = int(getattr(_torch.cuda.get_device_properties(dev), "L2_cache_size", 0))
        except Exception:
            size = 0
        n = max(2 * size, 64 << 20)
        self.buf = _torch.empty(n // 4, dtype=_torch.int32, device=dev)
        self.bytes = n

    def __call__(self):
        self.buf.fill_(42)


def _data_ptrs(x):
    out = set()
    for t in _tensors(x):
        try:
            out.add(t.untyped_storage().data_ptr())
        except Exception:
            pass
    return out


def profile_repeat():
    """`OPTAGENT_PROFILE_REPEAT` (default 1): how many times each trial runs the measured call,
    so that a profiler gets enough samples of it (docs/task-format.md, "Profiling"); the trial's
    time is then the mean per call."""
    raw = os.environ.get("OPTAGENT_PROFILE_REPEAT", "").strip()
    if not raw:
        return 1
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        sys.stderr.write("OPTAGENT_PROFILE_REPEAT must be a positive integer, not %r\n" % raw)
        sys.exit(2)
    return n


def optagent_measured(call, inp, repeat):
    """The measured section: `call(*inp)`, `repeat` times; profilers find it by this name."""
    out = None
    for _ in range(repeat):
        out = call(*inp)
    return out


def run(make_inputs, call, reference=None, *, trials=10, warmup=3, rtol=1e-4, atol=1e-4,
        reduce=summarize, argv=None):
    """Time `call(*inputs)` and write the workload's output; returns the payload written.

    make_inputs(seed, device) -> list of inputs (tensors or plain values), a fresh set per call.
    call(*inputs) -> the output (tensors, or lists/tuples/dicts of them).
    reference(*inputs) -> the expected output, or None: each trial's output is then compared
        with it (torch.allclose with rtol/atol) on an untouched copy of the trial's inputs.
    `trials`/`warmup` may be overridden by OPTAGENT_BENCH_TRIALS / OPTAGENT_BENCH_WARMUP.
    """
    trials = int(os.environ.get("OPTAGENT_BENCH_TRIALS", trials))
    repeat = profile_repeat()
    warmup = int(os.environ.get("OPTAGENT_BENCH_WARMUP", warmup))
    if trials < 1:
        raise ValueError("optagent_bench: trials must be at least 1, got %d" % trials)
    dev = device()
    cuda = dev.type == "cuda"
    flags = _Flags()
    if not cuda:
        sys.stderr.write(
            "optagent_bench: no CUDA device (or OPTAGENT_DEVICE=cpu): timing on the host with "
            "time.perf_counter around a synchronous call; these are not GPU figures\n"
        )
    # Seeds: stream 0 for warm-up inputs, 1.. for the trials, each a fresh set.
    # Inputs are made per trial, just before it (a KernelBench input can be gigabytes).
    first = make_inputs(seed_of(100), dev)
    if cuda:
        _cuda_sync()
    if os.environ.get("OPTAGENT_SETUP_ONLY") == "1":
        payload = {"result": None, "timer": "cuda_events" if cuda else "host"}
        write_output(payload)
        return payload
    flush = _L2Flush(dev) if cuda else None

    def sync():
        if cuda:
            _cuda_sync()

    # The harness's stream, taken before any call: the events are recorded on it, whatever
    # stream the code under test leaves current.
    stream0 = _current_stream() if cuda else None

    def check_stream(when):
        if cuda and _current_stream() != stream0:
            flags.add("stream_changed", "%s: the call left another CUDA stream current; the "
                      "events are recorded on the harness's own stream" % when)
            _torch.cuda.set_stream(stream0)

    with _torch.inference_mode():
        for w in range(warmup):
            call(*make_inputs(seed_of(50 + w), dev))
            sync()
            check_stream("warm-up call %d" % w)
        times, hosts, summaries, input_digests = [], [], [], set()
        for t in range(trials):
            inp = first if t == 0 else make_inputs(seed_of(100 + t), dev)
            first = None
            input_digests.add(json.dumps(summarize(inp), sort_keys=True))
            pristine = _clone(inp)
            in_ptrs = _data_ptrs(inp)
            sync()
            if flush is not None:
                flush()
                sync()
            if cuda:
                start, end = _cuda_event(enable_timing=True), _cuda_event(enable_timing=True)
                h0 = _perf_counter()
                _event_record(start, stream0)
                out = optagent_measured(call, inp, repeat)
                _event_record(end, stream0)
                _cuda_sync()
                h1 = _perf_counter()
                secs = _event_elapsed(start, end) / 1000.0 / repeat
                check_stream("trial %d" % t)
            else:
                h0 = _perf_counter()
                out = optagent_measured(call, inp, repeat)
                h1 = _perf_counter()
                secs = (h1 - h0) / repeat
            host = (h1 - h0) / repeat
            times.append(secs)
            hosts.append(host)
            if cuda and host > STREAM_RATIO * secs + STREAM_SLACK_S:
                flags.add("stream_escape", "trial %d: the device-synchronized host time %.6fs is "
                          "%.1fx the CUDA events' %.6fs: work ran outside the timed stream"
                          % (t, host, host / max(secs, 1e-9), secs))
            host_out = out
            if _data_ptrs(out) & in_ptrs:
                flags.add("output_aliases_input", "trial %d: the output shares memory with an "
                          "input" % t)
            for i, (a, b) in enumerate(zip(_tensors(inp), _tensors(pristine))):
                if not _same_bits(a, b):
                    flags.add("input_mutated", "trial %d: input tensor %d was changed by the "
                              "call" % (t, i))
            bad = _tampered()
            if bad:
                flags.add("harness_tampered", "rebound while the code ran: " + ", ".join(bad))
            if reference is not None:
                expected = reference(*pristine)
                sync()
                why = compare(expected, host_out, rtol, atol, "trial %d output" % t)
                if why:
                    sys.stderr.write("optagent_bench: wrong result: %s\n" % why)
                    sys.exit(1)
                del expected
            summaries.append(reduce(host_out))
            del out, pristine, inp, host_out
    # Identical outputs for distinct inputs: a result reused between calls.
    digests = [hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest()
               for s in summaries]
    inputs_differ = len(input_digests) > 1
    if inputs_differ and len(set(digests)) == 1 and len(digests) > 1:
        flags.add("result_reused", "every trial returned the same output for different inputs")
    payload = {
        "seconds": statistics.median(times),
        "result": summaries,
        "timer": "cuda_events" if cuda else "host",
        "trials_s": times,
        "host_s": hosts,
        "integrity": flags.items,
    }
    if repeat > 1:
        payload["repeat"] = repeat
    if cuda:
        payload["l2_flush_bytes"] = flush.bytes
        payload["device_name"] = _torch.cuda.get_device_name(dev)
    write_output(payload)
    return payload
