"""Metrics in the feature space of a classifier trained on the real data.

Inception features were learnt on ImageNet photographs; on X-rays or skin
lesions they may ignore what matters to a clinician's classifier. So beside the
Inception FID the pipeline trains a *domain classifier* - the experiment's
classifier architecture trained on the experiment's real training set (rule
``domain_classifier``) - and scores generated images in its space:

* **Domain FID**: the Fréchet distance (pytorch-fid's formula) between the
  penultimate-layer features (``model.embed``: for resnet18_small the global
  average pool, ``8 x width`` dimensions; for a torchvision arch the input of its
  original head, e.g. 512 for ResNet-18, 2048 for ResNet-50, 4096 for VGG) of
  generated and real images of a class. Its real-vs-real floor (train split vs
  test split) is computed the same way. The real train-split images include the
  classifier's own training images, whose features are tighter than unseen
  images'; compare a GAN with the floor and with other GANs, not with zero.
* **Class agreement**: the fraction of generated images of class ``c`` the
  classifier assigns to ``c`` (and their mean probability of ``c``). A GAN that
  draws the wrong class - or mush the classifier cannot place - scores low.
* **Classifier score**: ``exp E_x[KL(p(y|x) || p(y))]`` over a GAN's generated
  images of all classes (equal numbers per class), with ``p(y)`` the mean of
  ``p(y|x)`` over that set - the Inception Score's formula with the domain
  classifier in place of ImageNet's 1000 classes. It lies between 1 (every
  image gets the same prediction) and the number of classes (confident and
  balanced across classes); the same score of real test images is the reference.

The Inception Score itself is not offered: its 1000 ImageNet classes say
nothing about X-rays, so it rewards whatever makes ImageNet's classifier
confident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ganaug.metrics.fid import fid_from_features

__all__ = [
    "classifier_outputs",
    "classifier_score",
    "class_agreement",
    "domain_fid",
    "balanced_rows",
    "save_domain_classifier",
    "load_domain_classifier",
    "real_reference",
    "fit_domain_classifier",
    "domain_scores",
]

#: the files :func:`fit_domain_classifier` writes (rule domain_classifier's output names)
FIT_OUTPUTS = ("model", "info", "reference", "history")


@torch.inference_mode()
def classifier_outputs(
    model: torch.nn.Module, images: np.ndarray, device: torch.device | str = "cpu", batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features ``(N, D)`` and class probabilities ``(N, K)`` of uint8 images ``(N, R, R, C)``.

    ``model`` must have ``embed(x)`` (the pooled features) and ``fc`` (the last
    layer), like every network of :func:`ganaug.classifier.networks.build_classifier`. Images are scaled
    as in training (:func:`ganaug.classifier.evaluate.scale_images`).
    """
    from ganaug.classifier.evaluate import images_to_tensor, scale_images

    if len(images) == 0:
        raise ValueError("no images to score")
    model = model.to(device).eval()
    x = images_to_tensor(np.asarray(images), device)
    feats, probs = [], []
    for i in range(0, len(x), int(batch_size)):
        f = model.embed(scale_images(x[i : i + int(batch_size)]))
        feats.append(f.double().cpu())
        probs.append(torch.softmax(model.fc(f).double(), dim=1).cpu())
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def domain_fid(real_features: np.ndarray, generated_features: np.ndarray) -> float:
    """Fréchet distance between two sets of domain-classifier features (pytorch-fid's formula)."""
    return fid_from_features(
        np.asarray(real_features, dtype=np.float64), np.asarray(generated_features, dtype=np.float64)
    )


def classifier_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """``exp(mean_x KL(p(y|x) || p(y)))`` with ``p(y)`` the mean of the rows of ``probs`` ``(N, K)``.

    1 when every row is the same distribution; ``K`` when every row is one-hot
    and the classes are equally frequent.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0 or p.shape[1] < 2:
        raise ValueError(f"probs must be a non-empty (N, K >= 2) array, got shape {p.shape}")
    if (p < -1e-9).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("every row of probs must be a probability distribution (non-negative, summing to 1)")
    p = np.clip(p, 0.0, 1.0)
    marginal = p.mean(axis=0)
    # 0 * log 0 = 0: only the entries with p(y|x) > 0 contribute
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.maximum(p, eps)) - np.log(np.maximum(marginal, eps))), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))


def class_agreement(probs: np.ndarray, intended: int) -> dict[str, float]:
    """How far the classifier agrees that images meant to be class ``intended`` are that class.

    ``agreement``: fraction whose arg-max is ``intended``; ``confidence``: the
    mean probability of ``intended``.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probs must be a non-empty (N, K) array, got shape {p.shape}")
    if not 0 <= int(intended) < p.shape[1]:
        raise ValueError(f"class index {intended} outside 0..{p.shape[1] - 1}")
    return {
        "agreement": float((p.argmax(axis=1) == int(intended)).mean()),
        "confidence": float(p[:, int(intended)].mean()),
    }


def balanced_rows(labels: np.ndarray, classes: Sequence[int], n: int, seed: int) -> np.ndarray:
    """Up to ``n`` seeded rows of each class in ``classes`` (as many as every class has), sorted within class."""
    labels = np.asarray(labels)
    pools = [np.flatnonzero(labels == c) for c in classes]
    k = min([int(n)] + [len(p) for p in pools])
    if k == 0:
        raise ValueError(f"a class has no images (counts {[len(p) for p in pools]})")
    rng = np.random.default_rng(int(seed))
    return np.concatenate([np.sort(rng.choice(p, size=k, replace=False)) for p in pools])


# --------------------------------------------------------------------------- pipeline steps
def save_domain_classifier(
    path,
    model: torch.nn.Module,
    *,
    arch: str,
    width: int,
    num_classes: int,
    in_channels: int,
    classes: Sequence[str],
    pretrained: str = "none",
    input_size: int | str = "native",
) -> None:
    """Write the trained domain classifier atomically: its state dict and what rebuilds the network
    (``pretrained`` and ``input_size`` decide a torchvision network's input normalisation and size)."""
    from ganaug.io import torch_save

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch_save(
        path,
        {
            "state_dict": state,
            "arch": str(arch),
            "width": int(width),
            "num_classes": int(num_classes),
            "in_channels": int(in_channels),
            "classes": [str(c) for c in classes],
            "pretrained": str(pretrained),
            "input_size": input_size if input_size == "native" else int(input_size),
        },
    )


def load_domain_classifier(path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, list[str]]:
    """Rebuild the domain classifier saved by :func:`save_domain_classifier` (``weights_only`` load).

    The network is rebuilt without downloading anything (its ImageNet weights, if any, are in the state dict).
    A checkpoint without ``pretrained`` predates torchvision's archs: its ``resnet18`` is ``resnet18_small``.
    """
    from ganaug.classifier.networks import build_classifier
    from ganaug.io import torch_load

    ckpt = torch_load(path)
    missing = {"state_dict", "arch", "width", "num_classes", "in_channels", "classes"} - set(ckpt)
    if missing:
        raise ValueError(f"{path}: not a domain classifier checkpoint (missing {', '.join(sorted(missing))})")
    arch = ckpt["arch"]
    if "pretrained" not in ckpt and arch == "resnet18":
        arch = "resnet18_small"
    size = ckpt.get("input_size", "native")
    model = build_classifier(
        arch,
        ckpt["num_classes"],
        ckpt["in_channels"],
        ckpt["width"],
        pretrained=ckpt.get("pretrained", "none"),
        input_size=None if size == "native" else int(size),
        load_weights=False,
    )
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), list(ckpt["classes"])


def real_reference(
    model: torch.nn.Module,
    train: tuple,
    test: tuple,
    classes: Sequence[str],
    n: int,
    seed: int,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, np.ndarray], dict]:
    """Domain features of the real reference sets and the real-vs-real figures.

    ``train`` / ``test``: ``(images, labels)`` of the prepared train and test
    splits. Per class the reference is the same seeded subset of ``n`` train-split
    images the Inception FID uses (:func:`ganaug.metrics.select_subset`), and the
    floor compares it with ``n`` test-split images. The classifier score of real
    images uses ``n`` test images per class (as many as every class has).

    Returns ``(arrays, summary)``: arrays ``train_features_<k>`` /
    ``test_features_<k>`` per class index ``k`` and ``test_probs``; summary
    per class ``domain_fid_floor``, ``n_train``, ``n_test`` and ``test_agreement``, and
    ``classifier_score_real``.
    """
    from ganaug.metrics.features import select_subset

    arrays: dict[str, np.ndarray] = {"classes": np.asarray([str(c) for c in classes])}
    per_class = {}
    for k, cls in enumerate(classes):
        sides = {}
        for name, (x, y) in (("train", train), ("test", test)):
            xc = np.asarray(x)[np.asarray(y) == k]
            if len(xc) < 2:
                raise ValueError(
                    f"split {name!r} has {len(xc)} image(s) of class {cls!r}; the domain metrics need >= 2"
                )
            feats, probs = classifier_outputs(model, xc[select_subset(len(xc), int(n), int(seed))], device)
            arrays[f"{name}_features_{k}"] = feats
            sides[name] = probs
        per_class[str(cls)] = {
            "domain_fid_floor": domain_fid(arrays[f"train_features_{k}"], arrays[f"test_features_{k}"]),
            "n_train": int(len(arrays[f"train_features_{k}"])),
            "n_test": int(len(arrays[f"test_features_{k}"])),
            "test_agreement": class_agreement(sides["test"], k)["agreement"],
        }
    rows = balanced_rows(test[1], range(len(classes)), int(n), int(seed))
    _, test_probs = classifier_outputs(model, np.asarray(test[0])[rows], device)
    arrays["test_probs"] = test_probs
    summary = {
        "classes": per_class,
        "classifier_score_real": classifier_score(test_probs),
        "classifier_score_real_n_per_class": int(len(rows) // len(classes)),
    }
    return arrays, summary


def _domain_sets(real, data) -> tuple:
    """``(real training set, class names, val, train, test)``: the npz ``real`` and the ``(images, labels)`` of the
    prepared dataset ``data``'s splits; ``ValueError`` when their classes differ."""
    from ganaug.data import load_prepared
    from ganaug.io import load_npz

    train_set = load_npz(real, required=("images", "labels", "classes"))
    classes = [str(c) for c in train_set["classes"]]
    val_x, val_y, val_classes = load_prepared(data, "val")
    train_x, train_y, _ = load_prepared(data, "train")
    test_x, test_y, _ = load_prepared(data, "test")
    if val_classes != classes:
        raise ValueError(f"{data}: classes {val_classes} differ from {real}'s {classes}")
    return train_set, classes, (val_x, val_y), (train_x, train_y), (test_x, test_y)


def fit_domain_classifier(
    outputs: Mapping[str, str | os.PathLike],
    *,
    real: str | os.PathLike,
    data: str | os.PathLike,
    settings: Mapping,
    seed: int,
    fid: Mapping,
    positive_class: str,
    device: str = "auto",
    threads: int | None = None,
    deterministic: bool = True,
) -> dict:
    """Train the domain classifier on the real training set and score the real reference sets (rule domain_classifier).

    ``real``: the experiment's real training set (npz ``images``, ``labels``,
    ``classes``), what the classifier is trained on; ``data``: the prepared
    dataset, whose val split selects the epoch, whose test split gives the test
    AUC, and whose train and test splits are the real reference sets
    (:func:`real_reference`, with ``fid``'s ``n`` and ``seed``: the Inception
    FID's subsets). ``settings``: the experiment's classifier settings (arch,
    width, pretrained, input size, freeze, batch size, lr, weight decay, amp)
    with its ``epochs``. ``device`` ('auto', 'cpu', 'cuda', ...), ``threads``
    (torch intra-op threads) and ``deterministic`` set up the process as the rule's job.

    Writes ``outputs`` (:data:`FIT_OUTPUTS`): ``model`` (:func:`save_domain_classifier`),
    ``reference`` (the arrays of :func:`real_reference`), ``history`` (per epoch)
    and ``info`` (JSON: the run, its selected epoch and test scores, and
    :func:`real_reference`'s summary). Returns the info.
    """
    from ganaug.classifier import evaluate, predict_proba, train_classifier
    from ganaug.io import save_dataframe, save_npz, write_json
    from ganaug.runtime import resolve_amp, resolve_device, seed_everything, set_threads

    missing = [k for k in FIT_OUTPUTS if k not in outputs]
    if missing:
        raise ValueError(f"fit_domain_classifier: missing output(s) {', '.join(missing)}")
    settings, seed = dict(settings), int(seed)
    if settings.get("pretrained", "none") == "imagenet":  # offline: one line naming the file, before any data
        from ganaug.classifier.networks import fetch_weights

        fetch_weights(settings["arch"])
    train_set, classes, (val_x, val_y), (train_x, train_y), (test_x, test_y) = _domain_sets(real, data)

    set_threads(threads)
    seed_everything(seed, deterministic=deterministic)
    device = resolve_device(device)
    n_train = len(train_set["images"])
    print(f"domain classifier: {n_train} real training images, {settings['epochs']} epochs, device {device}")
    model, history = train_classifier(
        train_set["images"], train_set["labels"].astype("int64"), val_x, val_y, len(classes), settings, device, seed,
        progress=True,
    )  # fmt: skip
    probs = predict_proba(model, test_x, device, amp=settings["amp"])
    metrics, _ = evaluate(probs, test_y, classes, positive_class)
    arrays, summary = real_reference(
        model, (train_x, train_y), (test_x, test_y), classes, n=int(fid["n"]), seed=int(fid["seed"]), device=device
    )
    save_domain_classifier(
        outputs["model"], model, arch=settings["arch"], width=int(settings.get("width", 64)),
        pretrained=settings.get("pretrained", "none"), input_size=settings.get("input_size", "native"),
        num_classes=len(classes), in_channels=int(train_set["images"].shape[-1]), classes=classes,
    )  # fmt: skip
    save_npz(outputs["reference"], arrays)
    save_dataframe(outputs["history"], history)
    info = {
        "classes": classes,
        "n_train": int(n_train),
        "epochs": int(settings["epochs"]),
        "seed": seed,
        "amp": resolve_amp(settings["amp"], device),
        "selected_epoch": int(history.loc[history["selected"], "epoch"].iloc[0]),
        "test_auc": float(metrics["auc"]),
        "test_balanced_accuracy": float(metrics["balanced_accuracy"]),
        "feature_dim": int(arrays["train_features_0"].shape[1]),
        **summary,
    }
    write_json(outputs["info"], info)
    return info


def domain_scores(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    reference: dict[str, np.ndarray],
    n: int,
    seed: int,
    device: torch.device | str = "cpu",
) -> dict:
    """Domain FID and class agreement per class, and the classifier score of one GAN's samples.

    Per class the generated set is the same seeded subset of ``n`` images the
    Inception metrics use; the classifier score pools those subsets (equal
    sizes, so the score is not skewed by class frequencies). Classes without
    generated images (a per_class cell's ``classes``) are left out, and the
    classifier score, a measure over every class, is then NaN.
    """
    from ganaug.metrics.features import select_subset

    ref_classes = [str(c) for c in reference["classes"]]
    if ref_classes != [str(c) for c in classes]:
        raise ValueError(f"samples' classes {list(classes)} differ from the domain reference's {ref_classes}")
    per_class, pooled = {}, []
    # a per_class cell with ``classes`` generates some classes only: scored where it has images
    present = [k for k in range(len(classes)) if np.any(np.asarray(labels) == k)]
    k_min = min(int((np.asarray(labels) == k).sum()) for k in present)
    for k in present:
        cls = classes[k]
        xc = np.asarray(images)[np.asarray(labels) == k]
        if len(xc) < 2:
            raise ValueError(f"{len(xc)} generated image(s) of class {cls!r}; the domain metrics need >= 2")
        feats, probs = classifier_outputs(model, xc[select_subset(len(xc), int(n), int(seed))], device)
        agree = class_agreement(probs, k)
        per_class[str(cls)] = {
            "domain_fid": domain_fid(reference[f"train_features_{k}"], feats),
            "domain_n_generated": int(len(feats)),
            "class_agreement": agree["agreement"],
            "class_confidence": agree["confidence"],
        }
        pooled.append(probs[: min(int(n), k_min)])
    probs = np.concatenate(pooled)
    every = len(present) == len(classes)  # the score measures class diversity: over every class, or not at all
    return {
        "classes": per_class,
        "classifier_score": classifier_score(probs) if every else float("nan"),
        "classifier_score_n_per_class": int(len(probs) // len(present)) if every else 0,
    }
