"""Decode throughput: eventkit's readers against the peer decoders, side by side in one run.

    python -m bench.decode [--quick] [--only FORMAT ...] [--repeat N] [--json out.json]
                           [--markdown out.md] [--no-samples]

One table, one row per (file, peer): events, our M ev/s, the peer's M ev/s, ours/peer, whether
both decoded the same events, and the design target (DESIGN.md §8) with PASS/MISS on the row
of the peer the target is set against.

Method: every decoder runs single-threaded (thread env vars set before any import); each gets
one untimed warm-up call (numba compile, page cache), then ``--repeat`` interleaved rounds
(ours, peer 1, peer 2, ... per round); the median per decoder is reported.  Calls under 20 ms
(the small real samples) are looped so one timed sample lasts about 20 ms.  M ev/s = events
that *our* reader returns / median seconds (the same count for each peer when the "same
events" column says yes).

"same events": yes = same count and identical t, x, y, p columns (after undoing the documented
peer transform, e.g. SpikingJelly's CIFAR10-DVS axis swap/flip); "count+xyp" = same count and
x, y, p but different t (expelliarmus' known EVT3 timestamp bug); "count" = only the count
agrees; NO = counts differ.  Rows against a shared sample's ``.expect.json`` compare a sha256
of the decoded columns with the reference digest.

A reader that still raises NotImplementedError is reported as "not implemented yet".
"""

from __future__ import annotations

from bench._timing import force_single_thread

force_single_thread()

import argparse  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench._bench_data import dataset  # noqa: E402
from bench._timing import limit_torch_threads, measure  # noqa: E402

SAMPLES = Path("/work/shared/samples")
OURS = "eventkit"

# ------------------------------------------------------------------ peer calls
# Each returns the peer's own output, exactly as a user would get it; normalisation to
# (t, x, y, p) int64 columns happens outside the timed call.


def _sj():
    from bench._peers import import_spikingjelly

    import_spikingjelly()
    limit_torch_threads()
    from spikingjelly.datasets import cifar10_dvs, utils

    return cifar10_dvs, utils


def sj_load_aedat_v3(path):
    return _sj()[1].load_aedat_v3(path)


def sj_load_atis_bin(path):
    return _sj()[1].load_ATIS_bin(path)


def sj_aedat2_davis(path):
    """SpikingJelly's CIFAR10-DVS raw AEDAT 2 loader with its default jAER DAVIS masks."""
    cifar10_dvs = _sj()[0]
    with open(path, "rb") as fp:
        t, x, y, p = cifar10_dvs._load_events(fp, filter_dvs=True)
    return {"t": t, "x": x, "y": y, "p": p}


def sj_aedat2_dvs128(path):
    """SpikingJelly's CIFAR10-DVS loader (DVS128 layout; returns x=127-y, y=127-x, p=1-p)."""
    return _sj()[0]._load_origin_data(path)


def _tonic_io():
    import tonic.io

    return tonic.io


def _tonic_legacy(reader: str, path):
    """Tonic's read_dvs_* with its header call wrapped (tonic#302: the reader unpacks 2 of the 3
    values read_aedat_header_from_file returns).  The rest is Tonic's unchanged code."""
    tio = _tonic_io()
    orig = tio.read_aedat_header_from_file
    tio.read_aedat_header_from_file = lambda f: orig(f)[:2]
    try:
        return getattr(tio, reader)(path)[-1]
    finally:
        tio.read_aedat_header_from_file = orig


def tonic_dvs_ibm(path):
    return _tonic_legacy("read_dvs_ibm", path)


def tonic_dvs_128(path):
    return _tonic_legacy("read_dvs_128", path)


def tonic_davis_346(path):
    return _tonic_io().read_davis_346(path)[-1]


def tonic_mnist(path):
    tio = _tonic_io()
    return tio.read_mnist_file(path, dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))


def tonic_aedat4(path):
    return _tonic_io().read_aedat4(str(path))


def aedat_decoder(path):
    import aedat

    dec = aedat.Decoder(str(path))
    sid = min(i for i, s in dec.id_to_stream().items() if s["type"] == "events")
    return np.concatenate([pk["events"] for pk in dec if pk["stream_id"] == sid and "events" in pk])


def dv_processing_reader(path):
    import dv_processing as dv

    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while True:
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        parts.append(batch.numpy())
    return np.concatenate(parts)


def expelliarmus_reader(encoding: str):
    def read(path):
        import expelliarmus

        return expelliarmus.Wizard(encoding=encoding).read(str(path))

    read.__name__ = f"expelliarmus_{encoding}"
    return read


def numpy_load_npy(path):
    return np.load(path)


def numpy_load_npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in "txyp"}


# ------------------------------------------------------------------ comparison helpers


def columns(out: Any) -> dict[str, np.ndarray]:
    """t, x, y, p as int64 columns from a structured array or a dict of arrays."""
    if isinstance(out, dict):
        return {k: np.asarray(out[k]).astype(np.int64) for k in "txyp"}
    if isinstance(out, tuple):  # (shape, events) style
        out = out[-1]
    names = out.dtype.names or ()
    get = {k: k for k in "txyp"}
    if "timestamp" in names:  # dv-processing
        get.update(t="timestamp", p="polarity")
    return {k: np.asarray(out[v]).astype(np.int64) for k, v in get.items()}


def digest(cols: dict[str, np.ndarray]) -> str:
    """The .expect.json hash: sha256 of concatenated int64 t, x, y, p columns."""
    return hashlib.sha256(np.concatenate([cols[k] for k in "txyp"]).astype("<i8").tobytes()).hexdigest()


def undo_sj_cifar10(c):
    """SpikingJelly's CIFAR10-DVS loader returns x=127-y_raw, y=127-x_raw, p=1-bit0.

    eventkit returns the raw jAER DVS128 fields x=(a>>1)&0x7F, y=(a>>8)&0x7F and p=1-bit0 (jAER:
    bit 0 set = OFF), so only SpikingJelly's axis swap+flip is undone.
    """
    return {"t": c["t"], "x": 127 - c["y"], "y": 127 - c["x"], "p": c["p"]}


def undo_tonic_dvs128(c):
    """tonic.read_dvs_128 takes x from bits 8..14 and y from bits 1..7 (swapped against jAER's
    DVS128 layout) and p = bit 0 as is (jAER: bit 0 set = OFF); map to x/y raw, p = 1 - bit0."""
    return {"t": c["t"], "x": c["y"], "y": c["x"], "p": 1 - c["p"]}


def undo_tonic_davis346(c):
    """tonic.read_davis_346 flips both axes with DAVIS346 constants."""
    return {"t": c["t"], "x": 345 - c["x"], "y": 259 - c["y"], "p": c["p"]}


def same_events(ours: dict[str, np.ndarray] | None, peer: dict[str, np.ndarray] | None) -> str:
    if ours is None or peer is None:
        return "-"
    if len(ours["t"]) != len(peer["t"]):
        return f"NO ({len(peer['t'])} ev)"
    diff = [k for k in "txyp" if not np.array_equal(ours[k], peer[k])]
    if not diff:
        return "yes"
    if diff == ["t"]:
        return "count+xyp"
    return "count (" + ",".join(diff) + " differ)"


# ------------------------------------------------------------------ cases


@dataclass
class Peer:
    name: str
    fn: Callable[[Any], Any]
    normalise: Callable[[dict], dict] | None = None  # peer columns -> our layout
    slow: bool = False  # fewer rounds (pure-Python peers)
    note: str = ""


@dataclass
class Case:
    fmt: str  # our reader name (eventkit.READERS key)
    label: str
    path: Callable[[], Path]  # builds synthetic data lazily
    peers: list[Peer]
    target: tuple[str, float] | None = None  # (peer name, minimum ours/peer)
    expect: Path | None = None  # .expect.json with a reference digest
    note: str = ""
    sample: bool = False


def _syn(name: str) -> Callable[[], Path]:
    return lambda: dataset(name)


def _smp(name: str) -> Callable[[], Path]:
    return lambda: SAMPLES / name


SJ_V3 = Peer("spikingjelly load_aedat_v3", sj_load_aedat_v3, slow=True)
TONIC_IBM = Peer("tonic read_dvs_ibm (hdr wrapped)", tonic_dvs_ibm)
SJ_DAVIS = Peer("spikingjelly cifar10_dvs._load_events", sj_aedat2_davis)
SJ_DVS128 = Peer("spikingjelly cifar10_dvs._load_origin_data", sj_aedat2_dvs128, normalise=undo_sj_cifar10,
                 note="compared after undoing its x=127-y, y=127-x swap/flip")
TONIC_DAVIS = Peer("tonic read_davis_346", tonic_davis_346, normalise=undo_tonic_davis346,
                   note="compared after undoing its 345-x, 259-y flip")
TONIC_128 = Peer("tonic read_dvs_128 (hdr wrapped)", tonic_dvs_128, normalise=undo_tonic_dvs128,
                 note="Tonic swaps x/y against jAER and keeps the raw bit-0 polarity; compared after mapping")
SJ_ATIS = Peer("spikingjelly load_ATIS_bin", sj_load_atis_bin)
TONIC_MNIST = Peer("tonic read_mnist_file", tonic_mnist)
AEDAT = Peer("aedat.Decoder", aedat_decoder)
TONIC_A4 = Peer("tonic read_aedat4", tonic_aedat4)
DVP = Peer("dv-processing MonoCameraRecording", dv_processing_reader)


def _xp(enc: str) -> Peer:
    note = "expelliarmus EVT3 timestamps are known wrong (expelliarmus#20): speed only" if enc == "evt3" else ""
    return Peer("expelliarmus", expelliarmus_reader(enc), note=note)


def cases() -> list[Case]:
    return [
        Case("aedat31", "synthetic DVS128 Gesture recording (--recordings 1)", _syn("aedat31_gesture"),
             [TONIC_IBM], target=(TONIC_IBM.name, 4.0),
             note="SpikingJelly's pure-Python reader is timed on the 500 k-event cut (next row)"),
        Case("aedat31", "first packets of it (>= 500 k ev), for SpikingJelly", _syn("aedat31_gesture_cut"),
             [SJ_V3, TONIC_IBM]),
        Case("aedat2", "synthetic DAVIS346 layout, 10 M ev", _syn("aedat2_davis346"),
             [SJ_DAVIS, TONIC_DAVIS], target=(SJ_DAVIS.name, 5.0)),
        Case("aedat2", "synthetic DVS128 layout, 10 M ev", _syn("aedat2_dvs128"),
             [SJ_DVS128, TONIC_128], target=(SJ_DVS128.name, 5.0)),
        Case("aedat2", "synthetic DVS128 layout, 100 k ev (small file)", _syn("aedat2_dvs128_small"),
             [SJ_DVS128, TONIC_128], target=(SJ_DVS128.name, 5.0)),
        Case("atis_bin", "synthetic N-MNIST-style .bin, 10 M ev", _syn("atis_bin"),
             [SJ_ATIS, TONIC_MNIST], target=(SJ_ATIS.name, 2.0)),
        Case("aedat4", "dv-processing LZ4, 10 M ev", _syn("aedat4_lz4"),
             [AEDAT, TONIC_A4, DVP], target=(AEDAT.name, 1.0)),
        Case("aedat4", "dv-processing ZSTD, 10 M ev", _syn("aedat4_zstd"),
             [AEDAT, TONIC_A4, DVP], target=(AEDAT.name, 1.0)),
        Case("evt2", "expelliarmus-written EVT2, 10 M ev", _syn("evt2"), [_xp("evt2")], target=("expelliarmus", 1.0)),
        Case("evt3", "expelliarmus-written EVT3, 10 M ev", _syn("evt3"), [_xp("evt3")], target=("expelliarmus", 1.0)),
        Case("prophesee_dat", "expelliarmus-written DAT, 10 M ev", _syn("dat"), [_xp("dat")],
             target=("expelliarmus", 1.0)),
        # ---- real shared samples (small: per-file overhead dominates)
        Case("aedat2", "aedat2_davis240c_IMU_translBoxes.aedat", _smp("aedat2_davis240c_IMU_translBoxes.aedat"),
             [SJ_DAVIS], sample=True),
        Case("aedat4", "aedat4_dvxplorer_tonic_sample.aedat4", _smp("aedat4_dvxplorer_tonic_sample.aedat4"),
             [AEDAT, TONIC_A4, DVP], sample=True),
        Case("prophesee_dat", "ncars_obj_004397_td.dat", _smp("ncars_obj_004397_td.dat"), [_xp("dat")], sample=True),
        *[
            Case("atis_bin", f, _smp(f), [SJ_ATIS, TONIC_MNIST], sample=True)
            for f in ("nmnist_tonic_sample.bin", "nmnist_train_00001_label5.bin", "nmnist_train_00002_label0.bin")
        ],
        Case("evt2", "prophesee_evt2_gen3_sparklers.raw", _smp("prophesee_evt2_gen3_sparklers.raw"),
             [_xp("evt2")], sample=True),
        Case("evt3", "prophesee_evt3_gen41_pedestrians.raw", _smp("prophesee_evt3_gen41_pedestrians.raw"),
             [_xp("evt3")], sample=True),
        Case("npy", "npy_expelliarmus_ncars_obj_004397_decoded.npy",
             _smp("npy_expelliarmus_ncars_obj_004397_decoded.npy"), [Peer("numpy.load", numpy_load_npy)], sample=True),
        Case("npz", "npz_spikingjelly_nmnist_train_00003_label4.npz",
             _smp("npz_spikingjelly_nmnist_train_00003_label4.npz"), [Peer("numpy.load", numpy_load_npz)], sample=True),
        Case("mat", "stmnist_tonic_sample.mat", _smp("stmnist_tonic_sample.mat"), [], sample=True),
    ]


# ------------------------------------------------------------------ running


def _not_implemented(exc: BaseException) -> str | None:
    return "not implemented yet" if isinstance(exc, NotImplementedError) else None


def run_case(case: Case, repeat: int, slow_repeat: int) -> list[dict]:
    import eventkit

    path = case.path()
    if case.expect is None and case.sample:
        exp = path.with_name(path.name + ".expect.json")
        case.expect = exp if exp.exists() else None
    reader = eventkit.READERS[case.fmt]
    fns: dict[str, Callable[[], Any]] = {OURS: lambda: reader(path)}
    for peer in case.peers:
        fns[peer.name] = (lambda f: (lambda: f(path)))(peer.fn)
    norm = {p.name: p.normalise for p in case.peers}

    def keep(name: str, out: Any):
        cols = columns(out)
        f = norm.get(name)
        return f(cols) if f else cols

    res = measure(
        fns,
        repeat,
        repeat_for={p.name: slow_repeat for p in case.peers if p.slow},
        keep_output=keep,
        skip=_not_implemented,
    )
    ours = res[OURS]
    n = len(ours.output["t"]) if ours.output is not None else None
    if n is None:  # fall back to a peer's count for the events column
        for p in case.peers:
            if res[p.name].output is not None:
                n = len(res[p.name].output["t"])
                break
    ours_rate = n / ours.median / 1e6 if (n and ours.median) else None
    rows = []
    base = {
        "format": case.fmt,
        "file": case.label,
        "path": str(path),
        "bytes": path.stat().st_size,
        "events": n,
        "ours_mevs": ours_rate,
        "ours_median_s": ours.median,
        "ours_runs": len(ours.times),
        "ours_status": ours.error or "ok",
        "sample": case.sample,
    }
    peer_rows = list(case.peers)
    if not peer_rows and case.expect is None:
        rows.append({**base, "peer": "-", "peer_mevs": None, "ratio": None, "same": "-", "target": None,
                     "result": ours.error or "", "note": case.note})
    for peer in peer_rows:
        r = res[peer.name]
        peer_rate = n / r.median / 1e6 if (n and r.median) else None
        ratio = ours_rate / peer_rate if (ours_rate and peer_rate) else None
        same = same_events(ours.output, r.output) if r.error is None else "-"
        target = result = None
        if case.target and case.target[0] == peer.name:
            target = case.target[1]
            if ours.error:
                result = ours.error
            elif r.error:
                result = "peer failed"
            elif same.startswith("NO"):
                result = "MISS (different events)"
            else:
                result = "PASS" if ratio >= target else "MISS"
        notes = [x for x in (case.note if peer is peer_rows[0] else "", peer.note) if x]
        if peer.slow:
            notes.append(f"{len(r.times)} timed runs")
        if r.error:
            notes.append(r.error)
        rows.append({**base, "peer": peer.name, "peer_mevs": peer_rate, "peer_median_s": r.median,
                     "peer_runs": len(r.times), "ratio": ratio, "same": same, "target": target,
                     "result": result or (ours.error if ours.error and peer is peer_rows[0] else ""),
                     "note": "; ".join(notes)})
    if case.expect is not None:
        exp = json.loads(case.expect.read_text())
        if ours.output is not None:
            ok = digest(ours.output) == exp["sha256_txyp_int64"] and n == exp["event_count"]
            same = "yes" if ok else f"NO ({exp['event_count']} ev)" if n != exp["event_count"] else "NO (digest)"
        else:
            same = "-"
        ref = exp.get("decoder", {}).get("name", "?").split()[0]
        rows.append({**base, "peer": f".expect.json ({ref}, sha256)", "peer_mevs": None, "ratio": None,
                     "same": same, "target": None, "result": ours.error or "", "note": ""})
    return rows


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


HEADERS = ["format", "file", "events", "ours M ev/s", "peer", "peer M ev/s", "ours/peer", "same events",
           "target", "result"]


def table_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    prev = None
    for r in rows:
        first = (r["format"], r["file"]) != prev
        prev = (r["format"], r["file"])
        ours = _fmt(r["ours_mevs"], ".1f") if r["ours_status"] == "ok" else r["ours_status"]
        out.append([
            r["format"] if first else "",
            r["file"] if first else "",
            (f"{r['events']:,}" if r["events"] is not None else "-") if first else "",
            ours if first else "",
            r["peer"],
            _fmt(r["peer_mevs"], ".2f" if (r["peer_mevs"] or 99) < 10 else ".1f"),
            _fmt(r["ratio"], ".2f") + ("x" if r["ratio"] is not None else ""),
            r["same"],
            f">= {r['target']:g}x" if r["target"] else "",
            r["result"] or "",
        ])
    return out


def print_table(rows: list[dict], file=sys.stdout) -> None:
    body = table_rows(rows)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(HEADERS)] if body else []
    line = "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths))
    print(line, file=file)
    print("-" * len(line), file=file)
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths)), file=file)
    notes = [(r["format"], r["file"], r["peer"], r["note"]) for r in rows if r.get("note")]
    if notes:
        print("\nnotes:", file=file)
        for fmt, f, peer, note in notes:
            print(f"  {fmt} / {f} / {peer}: {note}", file=file)


def markdown(rows: list[dict], meta: dict) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for b in table_rows(rows):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in b) + " |")
    notes = [f"- {r['format']} / {r['file']} / {r['peer']}: {r['note']}" for r in rows if r.get("note")]
    head = [f"Run {meta['date']} on {meta['machine']}; {meta['repeat']} timed rounds (median), "
            f"1 warm-up, single-threaded decoders; eventkit {meta['eventkit_commit']}; "
            f"1-min load average {meta['loadavg_start'][0]:.1f} at start, {meta['loadavg_end'][0]:.1f} at end.", ""]
    return "\n".join(head + lines + ([""] + notes if notes else [])) + "\n"


def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, numpy {np.__version__}"


def git_commit() -> str:
    import subprocess

    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        # only the decoders matter here: report uncommitted changes under eventkit/io
        dirty = subprocess.run(["git", "status", "--porcelain", "eventkit/io"], capture_output=True, text=True)
        return rev.stdout.strip() + (" + uncommitted eventkit/io changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.decode", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 timed rounds (1 for pure-Python SpikingJelly); same files (< 3 min)")
    ap.add_argument("--only", nargs="+", metavar="FORMAT",
                    help="only these eventkit formats (aedat31 aedat2 atis_bin aedat4 evt2 evt3 prophesee_dat npy npz mat)")
    ap.add_argument("--repeat", type=int, default=None, help="timed rounds per decoder (default 7, --quick 3)")
    ap.add_argument("--no-samples", action="store_true", help="skip the real shared samples")
    ap.add_argument("--json", type=Path, help="write all rows (with medians and run counts) to this file")
    ap.add_argument("--markdown", type=Path, help="write the table as markdown to this file")
    args = ap.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 7)
    slow_repeat = 1 if args.quick else min(repeat, 3)
    todo = [c for c in cases() if (not args.only or c.fmt in args.only) and not (args.no_samples and c.sample)]
    if args.only:
        unknown = set(args.only) - {c.fmt for c in cases()}
        if unknown:
            ap.error(f"unknown format(s) {sorted(unknown)}")
    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "repeat": repeat,
        "slow_repeat": slow_repeat,
        "eventkit_commit": git_commit(),
        "loadavg_start": os.getloadavg(),
    }
    rows: list[dict] = []
    for c in todo:
        print(f"[bench] {c.fmt}: {c.label}", file=sys.stderr, flush=True)
        rows.extend(run_case(c, repeat, slow_repeat))
    meta["loadavg_end"] = os.getloadavg()
    print(f"\nDecode throughput, {meta['date']}, {meta['machine']}")
    print(f"median of {repeat} interleaved runs after 1 warm-up (pure-Python peers: {slow_repeat}); "
          f"single-threaded; eventkit {meta['eventkit_commit']}; "
          f"1-min load average {meta['loadavg_start'][0]:.1f} at start, {meta['loadavg_end'][0]:.1f} at end\n")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    if args.markdown:
        args.markdown.write_text(markdown(rows, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
