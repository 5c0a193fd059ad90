"""Baselines (none / classic / oversample / weighted_loss), the balance strategy and n_real subsets, on real images.

Each test asserts how the training set, the sampler or the loss changes (counts per class).
Real chest X-rays from ../shared/data (a missing folder fails, never skips). About 15 s on 2 cores.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

import ganaug.classifier.train as train_mod
from ganaug.classifier import (
    BASELINES,
    STRATEGIES,
    ClassicAugment,
    baseline_options,
    inverse_frequency_weights,
    limit_class,
    mix_training_set,
    train_classifier,
)
from ganaug.classifier.evaluate import scale_images
from ganaug.classifier.train import balanced_indices, milestone_epochs
from ganaug.config import load_schema
from ganaug.names import CLASSIFIER_BASELINES, MIXING_STRATEGIES
from helpers import SCHEMA, load_xrays

N_NORMAL, N_PNEU = 45, 135  # the imbalance of the default experiment (1 : 3)


@pytest.fixture(scope="module", autouse=True)
def _threads():
    # one thread: the width-4 nets here are too small to gain from two, and a second
    # thread only slows them down when the cores are shared
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def xrays():
    """Real 28 px chest X-rays: 'real' training images from train/, a 'synthetic' stand-in pool from test/."""
    rx = np.concatenate([load_xrays("train", "NORMAL", N_NORMAL, 28), load_xrays("train", "PNEUMONIA", N_PNEU, 28)])
    ry = np.repeat([0, 1], [N_NORMAL, N_PNEU])
    sx = np.concatenate([load_xrays("test", "NORMAL", 100, 28), load_xrays("test", "PNEUMONIA", 20, 28)])
    sy = np.repeat([0, 1], [100, 20])
    p = np.random.default_rng(0).permutation(len(ry))  # classes interleaved, not in blocks
    return rx[p], ry[p], sx, sy


def test_registries_match_config_and_schema():
    defs = load_schema(SCHEMA)["definitions"]
    assert tuple(BASELINES) == CLASSIFIER_BASELINES == tuple(defs["classifier_baseline"]["enum"])
    assert tuple(STRATEGIES) == MIXING_STRATEGIES == tuple(defs["mixing_strategy"]["enum"])


# --------------------------------------------------------------------------- balance strategy
# fraction -> synthetic NORMAL images added: n_synthetic(f, 135 - 45 = 90), by hand
BALANCE_ADDED = {0.0: 0, 0.1: 9, 0.5: 45, 1.0: 90}


@pytest.mark.parametrize("fraction", sorted(BALANCE_ADDED))
def test_balance_adds_minority_images(xrays, fraction):
    rx, ry, sx, sy = xrays
    x, y, is_synth = mix_training_set(rx, ry, sx, sy, fraction, seed=4, strategy="balance")
    added = BALANCE_ADDED[fraction]
    assert len(y) == len(ry) + added and x.shape[1:] == rx.shape[1:] and x.dtype == np.uint8
    # per class: NORMAL 45 real + added synthetic; PNEUMONIA (the largest class) untouched
    assert Counter(y.tolist()) == {0: N_NORMAL + added, 1: N_PNEU}
    assert int((is_synth & (y == 0)).sum()) == added and int((is_synth & (y == 1)).sum()) == 0
    # every real image kept, in order, first; the synthetic rows come from the NORMAL pool, each once
    np.testing.assert_array_equal(x[: len(ry)], rx)
    np.testing.assert_array_equal(y[: len(ry)], ry)
    assert not is_synth[: len(ry)].any() and is_synth[len(ry) :].all()
    used = Counter(img.tobytes() for img in x[is_synth])
    pool = Counter(img.tobytes() for img in sx[sy == 0])  # the Kaggle test split holds a few duplicate images
    assert sum(used.values()) == added and not (used - pool)


def test_balance_full_equalises_three_classes(xrays):
    rx, ry, sx, sy = xrays
    # a third class: 60 of the PNEUMONIA images relabelled 2 -> counts 45 / 75 / 60
    ry3 = ry.copy()
    ry3[np.flatnonzero(ry == 1)[:60]] = 2
    sy3 = np.concatenate([sy, np.full(20, 2)])
    sx3 = np.concatenate([sx, sx[sy == 1]])
    x, y, is_synth = mix_training_set(rx, ry3, sx3, sy3, 1.0, seed=0, strategy="balance")
    assert Counter(y.tolist()) == {0: 75, 1: 75, 2: 75}
    assert Counter(y[is_synth].tolist()) == {0: 30, 2: 15}
    with pytest.raises(ValueError, match=r"class 2.*needs 15.*only 5"):
        mix_training_set(rx, ry3, sx3[:-15], sy3[:-15], 1.0, seed=0, strategy="balance")
    # a generator that makes only class 0 (per_class, classes: minority): class 2's gap stays, real only
    x, y, is_synth = mix_training_set(rx, ry3, sx[sy == 0], sy[sy == 0], 1.0, seed=0, strategy="balance")
    assert Counter(y.tolist()) == {0: 75, 1: 75, 2: 60} and Counter(y[is_synth].tolist()) == {0: 30}


def test_balance_reproducible_and_needs_synthetic(xrays):
    rx, ry, sx, sy = xrays
    a = mix_training_set(rx, ry, sx, sy, 0.5, seed=1, strategy="balance")
    b = mix_training_set(rx, ry, sx, sy, 0.5, seed=1, strategy="balance")
    c = mix_training_set(rx, ry, sx, sy, 0.5, seed=2, strategy="balance")
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(ValueError, match="needs synthetic images"):
        mix_training_set(rx, ry, None, None, 0.5, seed=0, strategy="balance")


# --------------------------------------------------------------------------- n_real
def test_limit_class_nested_subsets(xrays):
    rx, ry, _, _ = xrays
    kept = {}
    for n in (10, 20, 40, None):
        x, y, idx = limit_class(rx, ry, 0, n, seed=3)
        assert Counter(y.tolist()) == {0: N_NORMAL if n is None else n, 1: N_PNEU}  # majority untouched
        np.testing.assert_array_equal(x, rx[idx])
        assert np.all(np.diff(idx) > 0)  # original row order kept
        kept[n] = set(idx[ry[idx] == 0].tolist())
    assert kept[10] < kept[20] < kept[40] < kept[None]  # n = 10 ⊂ 20 ⊂ 40 ⊂ all
    # another seed draws another subset; more than available keeps all
    _, _, other = limit_class(rx, ry, 0, 10, seed=4)
    assert set(other[ry[other] == 0].tolist()) != kept[10]
    _, y, _ = limit_class(rx, ry, 0, 500, seed=3)
    assert Counter(y.tolist()) == {0: N_NORMAL, 1: N_PNEU}


def test_n_real_then_balance_counts(xrays):
    """The script's order: n_real subset of the minority, then balance to the majority."""
    rx, ry, sx, sy = xrays
    x, y, _ = limit_class(rx, ry, 0, 40, seed=0)
    x, y, is_synth = mix_training_set(x, y, sx, sy, 1.0, seed=0, strategy="balance")
    assert Counter(y.tolist()) == {0: N_PNEU, 1: N_PNEU} and int(is_synth.sum()) == N_PNEU - 40


# --------------------------------------------------------------------------- baselines
def test_weighted_loss_inverse_to_class_frequency(xrays):
    _, ry, _, _ = xrays
    w = inverse_frequency_weights(ry, 2)
    # N / (K n_c): 180 / (2 * 45) = 2, 180 / (2 * 135) = 2/3
    np.testing.assert_allclose(w, [2.0, 2.0 / 3.0])
    counts = np.bincount(ry)
    np.testing.assert_allclose(w * counts, [90.0, 90.0])  # each class weighs the same in the loss
    np.testing.assert_allclose(baseline_options("weighted_loss", ry, 2)["class_weight"], w)
    np.testing.assert_allclose(inverse_frequency_weights([0, 1, 1, 1], 3), [2.0, 2.0 / 3.0, 1.0])  # absent class: 1


def test_oversample_draws_balanced_classes(xrays):
    _, ry, _, _ = xrays
    y = torch.from_numpy(ry)
    gen = torch.Generator().manual_seed(0)
    per_epoch = [np.bincount(ry[balanced_indices(y, 2, len(ry), gen).numpy()], minlength=2) for _ in range(20)]
    for counts in per_epoch:  # one epoch: 180 draws, ~90 per class (binomial sd 6.7)
        assert counts.sum() == len(ry) and abs(int(counts[0]) - 90) <= 27
    total = np.sum(per_epoch, axis=0)
    assert abs(total[0] / total.sum() - 0.5) < 0.03  # vs 0.25 without oversampling
    again = balanced_indices(y, 2, len(ry), torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(np.bincount(ry[again.numpy()], minlength=2), per_epoch[0])


def test_classic_augment_changes_images_keeps_shape_and_range(xrays):
    rx, _, _, _ = xrays
    xb = scale_images(torch.from_numpy(rx[:32]).permute(0, 3, 1, 2).contiguous())
    aug = ClassicAugment()
    out = aug(xb.clone(), torch.Generator().manual_seed(0))
    assert out.shape == xb.shape and out.dtype == xb.dtype
    assert out.min() >= -1.0 and out.max() <= 1.0
    changed = (out - xb).abs().flatten(1).mean(1)
    assert (changed > 0.01).all(), changed  # every image altered
    again = aug(xb.clone(), torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again)  # seeded: reproducible
    assert not torch.allclose(out, aug(xb.clone(), torch.Generator().manual_seed(1)))
    # geometry: with every other transform off, hflip=1 is exactly a horizontal flip, hflip=0 the identity
    flip_only = ClassicAugment(hflip=1.0, degrees=0.0, translate=0.0, scale=(1.0, 1.0), brightness=0.0, contrast=0.0)
    torch.testing.assert_close(flip_only(xb.clone(), torch.Generator()), xb.flip(-1), atol=1e-5, rtol=0)
    identity = ClassicAugment(hflip=0.0, degrees=0.0, translate=0.0, scale=(1.0, 1.0), brightness=0.0, contrast=0.0)
    torch.testing.assert_close(identity(xb.clone(), torch.Generator()), xb, atol=1e-5, rtol=0)


CFG = dict(arch="resnet18_small", width=4, epochs=2, batch_size=32, lr=1.0e-3, weight_decay=0.0)


@pytest.mark.parametrize("baseline", BASELINES)
def test_each_baseline_reaches_the_training_loop(xrays, baseline, monkeypatch):
    """The loop uses what the baseline asks for: augmentation per batch, balanced draws, class weights."""
    rx, ry, _, _ = xrays
    rx, ry = rx[:64], ry[:64]
    counts = np.bincount(ry, minlength=2)
    assert 0 < counts[0] < counts[1]
    seen = {"augment": 0, "balanced": 0, "weight": []}
    options = baseline_options(baseline, ry, 2)
    if "augment" in options:
        inner = options["augment"]

        def spy(x, gen):
            seen["augment"] += 1
            return inner(x, gen)

        options["augment"] = spy
    real_balanced, real_ce = train_mod.balanced_indices, train_mod.F.cross_entropy

    def balanced_spy(*args, **kwargs):
        seen["balanced"] += 1
        return real_balanced(*args, **kwargs)

    def ce_spy(logits, target, weight=None, **kwargs):
        if logits.requires_grad:
            seen["weight"].append(None if weight is None else weight.cpu().numpy())
        return real_ce(logits, target, weight=weight, **kwargs)

    monkeypatch.setattr(train_mod, "balanced_indices", balanced_spy)
    monkeypatch.setattr(train_mod.F, "cross_entropy", ce_spy)
    _, hist = train_classifier(rx, ry, rx[:16], ry[:16], 2, CFG, "cpu", seed=0, progress=False, **options)
    assert np.isfinite(hist["train_loss"]).all()
    n_batches = CFG["epochs"] * int(np.ceil(len(ry) / CFG["batch_size"]))
    assert seen["augment"] == (n_batches if baseline == "classic" else 0)
    assert seen["balanced"] == (CFG["epochs"] if baseline == "oversample" else 0)
    assert len(seen["weight"]) == n_batches
    if baseline == "weighted_loss":
        for w in seen["weight"]:
            np.testing.assert_allclose(w, len(ry) / (2 * counts), rtol=1e-6)
    else:
        assert all(w is None for w in seen["weight"])


def test_unknown_baseline():
    with pytest.raises(ValueError, match="unknown baseline 'smote'"):
        baseline_options("smote", [0, 1], 2)


def test_multistep_schedule(xrays):
    assert milestone_epochs([0.5, 0.75], 100) == [50, 75]
    assert milestone_epochs([0.5, 0.75], 4) == [2, 3]
    rx, ry, _, _ = xrays
    cfg = {**CFG, "epochs": 4, "lr_schedule": "multistep"}
    _, hist = train_classifier(rx[:16], ry[:16], None, None, 2, cfg, "cpu", seed=0, progress=False)
    # the LR in force after each epoch: x0.1 after epochs 2 and 3
    np.testing.assert_allclose(hist["lr"], [1e-3, 1e-4, 1e-5, 1e-5])
    with pytest.raises(ValueError, match="lr_milestones"):
        train_classifier(rx[:8], ry[:8], None, None, 2, {**cfg, "lr_milestones": [1.5]}, "cpu", 0, progress=False)
