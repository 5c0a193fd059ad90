"""Train the domain classifier on the real training set and score the real reference sets (rule domain_classifier).

The classifier is the experiment's classifier (arch, width, pretrained, input size,
freeze, batch size, lr, weight decay of config ``classifier``) trained for ``metrics.domain.epochs`` on the real
training set (results/data/real_train.npz), selected on the validation split. Its
penultimate features define the domain FID (see :mod:`ganaug.metrics.domain`).
"""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.classifier import evaluate, predict_proba, train_classifier
    from ganaug.data import load_prepared
    from ganaug.io import load_npz, save_dataframe, save_npz, write_json
    from ganaug.metrics.domain import real_reference, save_domain_classifier
    from ganaug.runtime import resolve_amp, resolve_device, seed_everything, set_threads

    settings, seed = dict(sm.params.settings), int(sm.params.seed)
    if settings.get("pretrained", "none") == "imagenet":  # offline: one line naming the file, before any data
        from ganaug.classifier.networks import fetch_weights

        fetch_weights(settings["arch"])
    real = load_npz(sm.input.real_train, required=("images", "labels", "classes"))
    classes = [str(c) for c in real["classes"]]
    val_x, val_y, val_classes = load_prepared(sm.input.data, "val")
    train_x, train_y, _ = load_prepared(sm.input.data, "train")
    test_x, test_y, _ = load_prepared(sm.input.data, "test")
    if val_classes != classes:
        raise ValueError(f"{sm.input.data}: classes {val_classes} differ from {sm.input.real_train}'s {classes}")

    set_threads(sm.threads)
    seed_everything(seed, deterministic=bool(sm.config.get("deterministic", True)))
    device = resolve_device(sm.config.get("device", "auto"))
    print(
        f"domain classifier: {len(real['images'])} real training images, {settings['epochs']} epochs, device {device}"
    )
    model, history = train_classifier(
        real["images"],
        real["labels"].astype("int64"),
        val_x,
        val_y,
        len(classes),
        settings,
        device,
        seed,
        progress=True,
    )
    probs = predict_proba(model, test_x, device, amp=settings["amp"])
    metrics, _ = evaluate(probs, test_y, classes, sm.params.positive_class)
    fid = dict(sm.params.fid)
    arrays, summary = real_reference(
        model, (train_x, train_y), (test_x, test_y), classes, n=int(fid["n"]), seed=int(fid["seed"]), device=device
    )
    save_domain_classifier(
        sm.output.model,
        model,
        arch=settings["arch"],
        width=int(settings.get("width", 64)),
        pretrained=settings.get("pretrained", "none"),
        input_size=settings.get("input_size", "native"),
        num_classes=len(classes),
        in_channels=int(real["images"].shape[-1]),
        classes=classes,
    )
    save_npz(sm.output.reference, arrays)
    save_dataframe(sm.output.history, history)
    info = {
        "classes": classes,
        "n_train": int(len(real["images"])),
        "epochs": int(settings["epochs"]),
        "seed": seed,
        "amp": resolve_amp(settings["amp"], device),
        "selected_epoch": int(history.loc[history["selected"], "epoch"].iloc[0]),
        "test_auc": float(metrics["auc"]),
        "test_balanced_accuracy": float(metrics["balanced_accuracy"]),
        "feature_dim": int(arrays["train_features_0"].shape[1]),
        **summary,
    }
    write_json(sm.output.info, info)
    print(info)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
