"""Benchmark: GRU training throughput against Qlib's GRU, and one full GAN_GRU retrain.

1. Throughput (samples per second) of one training epoch of our GRU step (GRUFactorModel,
   GRU(128, 128) + MLP(256, 64, 64), IC loss, Adam, one batch = one sample date, through the
   shared loop ``quantbook.models.training.train``) against Qlib's GRU
   (``qlib.contrib.model.pytorch_gru.GRU.train_epoch``: nn.GRU(hidden 128, 2 layers) + linear
   head, MSE, Adam, gradient value clipping) at equal hidden size, on the same windows: the
   project's 40 x 18 windows of a synthetic store (``default`` if present, else ``smoke``,
   built if missing), Qlib's batch size = our mean cross-section size. Both single-threaded.

   Qlib runs in its own environment, a separate virtualenv with ``torch==2.13.0`` and
   ``pyqlib`` (they pin packages this project does not), as a child process: the Python named
   by ``QLIB_PYTHON``, else ``benchmarks/out/qlib-env/bin/python``; ``--setup-qlib`` creates
   the latter (``python3.11 -m venv`` + ``pip install torch==2.13.0 pyqlib``). Before timing,
   the child checks that Qlib's ``GRUModel`` and our reimplementation of it (nn.GRU + linear
   head, the same reshape) give identical outputs with the same weights. Epochs of the two
   are interleaved (ours, Qlib's, ours, ...) and each side's fastest epoch is kept, so a
   change of load on the shared machine does not favour either. Without a Qlib environment
   the reference is that reimplementation, run here, and the output says so.

2. One full retrain of the ``fast`` preset (GAN_GRU and the plain GRU) on the default store
   at one retraining date, without the model cache.

Run alone: ``.venv/bin/python benchmarks/gru_training.py [--setup-qlib] [--epochs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
QLIB_ENV = HERE / "out" / "qlib-env"
HIDDEN = 128

#: Runs in the Qlib environment: check our reimplementation, then time Qlib's train_epoch.
QLIB_CHILD = r"""
import json, sys, time
import numpy as np, pandas as pd, torch
torch.set_num_threads(1)
from qlib.contrib.model.pytorch_gru import GRU, GRUModel
path, batch, epochs, hidden = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
x = np.load(path + "/x.npy"); y = np.load(path + "/y.npy")
S, T, F = x.shape
flat = np.ascontiguousarray(x.transpose(0, 2, 1).reshape(S, F * T))  # Qlib's [N, F*T] layout
# same architecture: Qlib's GRUModel vs the reimplementation (nn.GRU + Linear) on shared weights
torch.manual_seed(0)
ref = GRUModel(d_feat=F, hidden_size=hidden, num_layers=2)
torch.save(ref.state_dict(), path + "/qlib_state.pt")
with torch.no_grad():
    np.save(path + "/qlib_out.npy", ref(torch.from_numpy(flat[:64])).numpy())
m = GRU(d_feat=F, hidden_size=hidden, num_layers=2, batch_size=batch, n_epochs=1, lr=1e-4,
        GPU=-1, seed=0)
X, Y = pd.DataFrame(flat), pd.DataFrame(y)
m.train_epoch(X, Y)  # warm-up
import qlib
steps = S // batch
print(json.dumps({"ready": True, "samples": steps * batch, "steps": steps,
                  "qlib": qlib.__version__, "torch": torch.__version__}), flush=True)
for line in sys.stdin:  # one timed epoch per request, so the parent can interleave
    t0 = time.perf_counter(); m.train_epoch(X, Y)
    print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
"""


class QlibGRUReimpl(torch.nn.Module):
    """A reimplementation of ``qlib.contrib.model.pytorch_gru.GRUModel`` (forward only)."""

    def __init__(self, d_feat: int, hidden_size: int, num_layers: int = 2) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(d_feat, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc_out = torch.nn.Linear(hidden_size, 1)
        self.d_feat = d_feat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), self.d_feat, -1).permute(0, 2, 1)  # [N, F*T] -> [N, T, F]
        out, _ = self.rnn(x)
        return self.fc_out(out[:, -1, :]).squeeze()


def reimpl_runner(flat: np.ndarray, y: np.ndarray, batch: int) -> Callable[[], float]:
    """Qlib's ``train_epoch`` loop with the reimplemented model (the fallback reference)."""
    torch.manual_seed(0)
    model = QlibGRUReimpl(18, HIDDEN)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)

    def epoch() -> float:
        t0 = time.perf_counter()
        idx = rng.permutation(len(flat))
        for i in range(0, len(idx) - batch + 1, batch):
            xb = torch.from_numpy(flat[idx[i : i + batch]]).float()
            yb = torch.from_numpy(y[idx[i : i + batch]]).float()
            loss = ((model(xb) - yb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_value_(model.parameters(), 3.0)
            opt.step()
        return time.perf_counter() - t0

    epoch()  # warm-up
    return epoch


def qlib_python(setup: bool) -> tuple[str | None, str]:
    """The Qlib environment's Python, or None and why not."""
    env = os.environ.get("QLIB_PYTHON")
    if env:
        return env, f"QLIB_PYTHON={env}"
    py = QLIB_ENV / "bin" / "python"
    if not py.exists() and setup:
        print(f"creating the Qlib environment in {QLIB_ENV} (venv + torch==2.13.0 + pyqlib)...")
        subprocess.run(["python3.11", "-m", "venv", str(QLIB_ENV)], check=True)
        pip = [str(QLIB_ENV / "bin" / "pip"), "install", "--quiet"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)
        subprocess.run([*pip, "pyqlib"], check=True)
    if py.exists():
        return str(py), str(QLIB_ENV)
    return None, (
        f"no Qlib environment: set QLIB_PYTHON or run with --setup-qlib to create {QLIB_ENV}"
    )


def windows(max_dates: int) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """Per-date windows and labels of a synthetic store (default if built, else smoke)."""
    from quantbook.data import open_store
    from quantbook.data.sources.synthetic import build_store
    from quantbook.data.store import StoreNotFoundError
    from quantbook.features import FeatureSpec, load_or_build_windows

    for name in ("default", "smoke"):
        try:
            store = open_store(name)
            break
        except StoreNotFoundError:
            continue
    else:
        store = build_store(preset="smoke", name="smoke", progress=False)
    ws = load_or_build_windows(store, FeatureSpec())
    dates = ws.dates[ws.on_grid][-max_dates - 10 : -10]
    xs, ys = zip(*(ws.batch(d) for d in dates), strict=True)
    return list(xs), list(ys), store.name


def ours_runner(xs: list[np.ndarray], ys: list[np.ndarray]) -> Callable[[], float]:
    """Our GRU step through the shared loop: paper sizes, IC loss, one batch per date."""
    from quantbook.models import GRUFactorModel, ic_loss, seed_everything, train

    batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in zip(xs, ys, strict=True)]
    seed_everything(0)
    model = GRUFactorModel(n_features=18, hidden=(HIDDEN, HIDDEN), mlp=(256, 64, 64))

    def epoch() -> float:
        res = train(
            model,
            train_batches=batches,
            loss_fn=ic_loss,
            lr=1e-4,
            max_epochs=1,
            patience=None,
            progress=False,
        )
        return float(res.history["seconds"].iloc[0])

    epoch()  # warm-up
    return epoch


def full_retrain() -> str:
    """Time one retrain (GAN_GRU + plain GRU) of the fast preset on the default store."""
    from quantbook.data import open_store
    from quantbook.data.store import StoreNotFoundError
    from quantbook.factors import gan_gru as gg
    from quantbook.features import load_or_build_windows

    try:
        store = open_store("default")
    except StoreNotFoundError:
        return "skipped: no default store (make data)"
    cfg = gg.GAN_GRU_PRESETS["fast"]
    ws = load_or_build_windows(store, cfg.features)
    fit = gg.retrain_schedule(ws, cfg, sessions=ws.dates, predict=ws.dates).fits[-2]
    r = fit.date
    parts = []
    total = 0.0
    for kind in gg.KINDS:
        t0 = time.perf_counter()
        wm = gg.fit_window(ws, cfg, fit, kind=kind, cache=None)
        dt = time.perf_counter() - t0
        total += dt
        parts.append(f"{kind} {dt:.1f} s ({len(wm.history)} epochs, {wm.n_train} dates)")
    return f"retrain {r:%Y-%m-%d}, fast preset, default store: {total:.1f} s = " + " + ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4, help="timed epochs per side (after a warm-up)")
    ap.add_argument("--dates", type=int, default=8, help="sample dates per epoch")
    ap.add_argument("--setup-qlib", action="store_true", help="create the Qlib environment")
    ap.add_argument("--skip-retrain", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)

    xs, ys, store = windows(args.dates)
    n = sum(len(y) for y in ys)
    batch = int(round(n / len(ys)))
    print(f"windows: store {store!r}, {len(ys)} dates, {n} samples, 40 x 18, batch ~{batch}")
    x, y = np.concatenate(xs), np.concatenate(ys)
    flat = np.ascontiguousarray(x.transpose(0, 2, 1).reshape(len(x), -1))  # Qlib's layout
    mine = ours_runner(xs, ys)

    py, where = qlib_python(args.setup_qlib)
    ref_name = "qlib_pytorch_gru"
    ref_samples, ref_steps = (len(flat) // batch) * batch, len(flat) // batch
    ref_epoch: Callable[[], float] | None = None
    tmp = tempfile.TemporaryDirectory()
    child: subprocess.Popen[str] | None = None
    errlog = open(f"{tmp.name}/qlib.err", "w")
    if py is not None:
        np.save(f"{tmp.name}/x.npy", x)
        np.save(f"{tmp.name}/y.npy", y)
        child = subprocess.Popen(
            [py, "-c", QLIB_CHILD, tmp.name, str(batch), "0", str(HIDDEN)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert child.stdin is not None and child.stdout is not None
        line = child.stdout.readline()
        while line and not line.startswith("{"):  # skip anything Qlib prints on import
            line = child.stdout.readline()
        if line.startswith("{"):
            info = json.loads(line)
            re_model = QlibGRUReimpl(18, HIDDEN)
            state = torch.load(f"{tmp.name}/qlib_state.pt", weights_only=True)
            re_model.load_state_dict(state)
            with torch.no_grad():
                mine_out = re_model(torch.from_numpy(flat[:64])).numpy()
            if not np.allclose(mine_out, np.load(f"{tmp.name}/qlib_out.npy"), atol=1e-6):
                print("check FAILED: the reimplementation differs from Qlib's GRUModel")
                sys.exit(1)
            print(f"check: Qlib {info['qlib']} GRUModel == reimplementation (same weights)")
            proc = child

            def qlib_epoch() -> float:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write("epoch\n")
                proc.stdin.flush()
                return float(json.loads(proc.stdout.readline())["seconds"])

            ref_epoch = qlib_epoch
        else:
            errlog.flush()
            err = Path(f"{tmp.name}/qlib.err").read_text().strip().splitlines()
            where = f"Qlib child failed ({where}): {err[-1:]}"
    if ref_epoch is None:
        print(f"Qlib not used: {where}; the reference is a reimplementation of its GRU step")
        ref_name = "qlib_gru_reimplementation"
        ref_epoch = reimpl_runner(flat, y, batch)
    ours_t, ref_t = [], []
    for _ in range(args.epochs):  # interleaved; the fastest epoch of each side counts
        ours_t.append(mine())
        ref_t.append(ref_epoch())
    if child is not None:
        child.terminate()
        child.wait()
    errlog.close()
    tmp.cleanup()
    our_rate, ref_rate = n / min(ours_t), ref_samples / min(ref_t)
    print(
        f"ours  GRU({HIDDEN},{HIDDEN})+MLP(256,64,64), IC loss, batch = one date: "
        f"{our_rate:8.1f} samples/s (best of {args.epochs} epochs: "
        f"{', '.join(f'{t:.1f}' for t in ours_t)} s; {len(ys)} steps)"
    )
    print(
        f"{ref_name}  GRU({HIDDEN}, 2 layers)+Linear, MSE: {ref_rate:8.1f} samples/s "
        f"(best of {args.epochs}: {', '.join(f'{t:.1f}' for t in ref_t)} s; "
        f"{ref_steps} steps of {batch})"
    )
    if not args.skip_retrain:
        print(full_retrain())
    print(f"RESULT gru_train_throughput_ratio {our_rate / ref_rate:.2f} x vs {ref_name}")


if __name__ == "__main__":
    main()
