"""The shared training loop, the IC loss, the GAN's shapes and the model cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from quantbook.data.cache import Cache
from quantbook.models import (
    GAN,
    CNNDiscriminator,
    GRUFactorModel,
    LSTMGenerator,
    ic_loss,
    seed_everything,
    train,
    train_gan,
)

torch.set_num_threads(1)


def _data(seed: int = 0, n_dates: int = 8, n: int = 40) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of windows whose label depends on the last day's first feature (learnable)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_dates):
        x = torch.randn(n, 10, 4, generator=g)
        y = x[:, -1, 0] + 0.5 * torch.randn(n, generator=g)
        out.append((x, y))
    return out


def _model(seed: int = 0) -> GRUFactorModel:
    seed_everything(seed)
    return GRUFactorModel(n_features=4, hidden=(6, 6), mlp=(8, 4))


def test_train_is_bit_for_bit_reproducible() -> None:
    data = _data()
    results = []
    for _ in range(2):
        model = _model()
        res = train(
            model,
            train_batches=data[:6],
            valid_batches=data[6:],
            loss_fn=ic_loss,
            lr=1e-2,
            max_epochs=4,
            patience=10,
            seed=3,
            progress=False,
        )
        results.append((model.state_dict(), res))
    (s1, r1), (s2, r2) = results
    assert s1.keys() == s2.keys()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    np.testing.assert_array_equal(
        r1.history[["train_loss", "valid_loss"]].to_numpy(),
        r2.history[["train_loss", "valid_loss"]].to_numpy(),
    )
    # a different seed changes the batch order and so the weights
    model = _model()
    train(
        model,
        train_batches=data[:6],
        valid_batches=data[6:],
        loss_fn=ic_loss,
        lr=1e-2,
        max_epochs=4,
        seed=4,
        progress=False,
    )
    assert not all(torch.equal(s1[k], model.state_dict()[k]) for k in s1)


def test_train_learns_and_keeps_the_best_epoch() -> None:
    data = _data()
    model = _model()
    res = train(
        model,
        train_batches=data[:6],
        valid_batches=data[6:],
        loss_fn=ic_loss,
        lr=1e-2,
        max_epochs=30,
        patience=3,
        seed=0,
        progress=False,
    )
    h = res.history
    assert list(h.columns[:2]) == ["train_loss", "valid_loss"]
    assert res.best_epoch == int(h["valid_loss"].idxmin())
    assert h["valid_loss"].min() < -0.5  # the IC on validation dates is above 0.5
    # the model holds the best epoch's weights, and early stopping waited `patience` epochs
    assert all(torch.equal(model.state_dict()[k], v) for k, v in res.best_state.items())
    if res.stopped_early:
        assert len(h) == res.best_epoch + 3
    assert res.steps == 6 * len(h)


def test_train_accepts_a_callable_and_a_custom_step() -> None:
    data = _data()
    model = _model()
    seen: list[int] = []

    def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        seen.append(epoch)
        return data[:2]

    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        opt.zero_grad()
        loss = ic_loss(model(batch[0]), batch[1])
        loss.backward()
        opt.step()
        return {"a": float(loss.detach()), "b": 1.0}

    res = train(
        model, train_batches=batches, step=step, max_epochs=3, patience=None, progress=False
    )
    assert seen == [1, 2, 3]
    assert {"train_a", "train_b"} <= set(res.history.columns)
    np.testing.assert_allclose(res.history["train_loss"], res.history["train_a"] + 1.0)
    assert res.best_epoch == 3  # no validation: the last epoch's weights
    with pytest.raises(ValueError, match="loss_fn"):
        train(model, train_batches=data, progress=False)


def test_ic_loss_is_minus_pearson() -> None:
    rng = np.random.default_rng(0)
    p, y = rng.normal(size=50), rng.normal(size=50)
    expected = -np.corrcoef(p, y)[0, 1]
    got = float(ic_loss(torch.tensor(p), torch.tensor(y)))
    assert got == pytest.approx(expected, abs=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    scale=st.floats(min_value=1e-3, max_value=1e3),
    shift=st.floats(min_value=-1e3, max_value=1e3),
    seed=st.integers(0, 10_000),
)
def test_ic_loss_invariant_to_scaling_the_prediction(scale: float, shift: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(64, generator=g, dtype=torch.float64)
    y = torch.randn(64, generator=g, dtype=torch.float64)
    base = float(ic_loss(p, y))
    assert float(ic_loss(scale * p, y)) == pytest.approx(base, abs=1e-9)
    assert float(ic_loss(scale * p + shift, y)) == pytest.approx(base, abs=1e-6)
    assert float(ic_loss(-p, y)) == pytest.approx(-base, abs=1e-9)


def test_generator_output_has_the_input_shape() -> None:
    seed_everything(0)
    x = torch.randn(7, 40, 18)
    for residual in (True, False):
        g = LSTMGenerator(n_features=18, hidden=8, residual=residual)
        assert g(x).shape == x.shape
    # the residual generator starts as the identity
    assert torch.equal(LSTMGenerator(n_features=18, hidden=8)(x), x)
    d = CNNDiscriminator(n_features=18, channels=(4, 8))
    assert d(x).shape == (7,)


def test_gan_trains_alternately_through_the_shared_loop() -> None:
    seed_everything(1)
    gan = GAN(LSTMGenerator(n_features=4, hidden=6), CNNDiscriminator(n_features=4, channels=(4,)))
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    res = train_gan(gan, batches=_data()[:3], epochs=2, lr=1e-2, seed=0, progress=False)
    assert {"train_d", "train_g"} <= set(res.history.columns)
    assert len(res.history) == 2
    changed = {k for k, v in gan.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("generator.") for k in changed)
    assert any(k.startswith("discriminator.") for k in changed)
    x = _data()[0][0]
    assert gan(x).shape == x.shape


def test_model_cache_round_trip_gives_identical_predictions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = _data()
    model = _model()
    train(model, train_batches=data[:4], loss_fn=ic_loss, lr=1e-2, max_epochs=2, progress=False)
    cache = Cache(tmp_path / "models", fingerprint="fp", version="v")
    key = {"kind": "gru", "window_end": "2024-06-28"}
    assert cache.get_states(key) is None
    cache.put_states(key, {"gru": model.state_dict()}, meta={"best_epoch": 2})
    assert cache.path(key, "pt").is_file()
    assert not list((tmp_path / "models").glob(".*.part"))  # nothing half-written left
    loaded = cache.get_states(key)
    assert loaded is not None
    states, meta = loaded
    fresh = _model(seed=99)
    fresh.load_state_dict(states["gru"])
    model.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(model(data[0][0]), fresh(data[0][0]))
    assert meta == {"best_epoch": 2}
    assert cache.get_states({"kind": "gru", "window_end": "2024-07-31"}) is None


@pytest.mark.parametrize(
    "module",
    [
        "quantbook.models.training",
        "quantbook.models.gru",
        "quantbook.models.gan",
        "quantbook.data.cache",
    ],
)
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
