"""Train and evaluate one classifier run: source × synthetic fraction × seed (rule train_classifier)."""

from ganaug.runtime import run_script


def main(sm):
    import numpy as np

    from ganaug.classifier import evaluate, mix_training_set, plot_confusion, predict_proba, predictions_frame, train_classifier
    from ganaug.data import load_prepared
    from ganaug.io import load_npz, save_dataframe, write_json
    from ganaug.runtime import resolve_device, seed_everything, set_threads

    source, fraction, seed = sm.wildcards.source, float(sm.wildcards.frac), int(sm.wildcards.seed)
    settings = dict(sm.params.settings)
    real = load_npz(sm.input.real, required=("images", "labels", "classes"))
    classes = [str(c) for c in real["classes"]]
    synth_x = synth_y = None
    if sm.input.synthetic:
        synth = load_npz(sm.input.synthetic[0], required=("images", "labels", "classes"))
        if [str(c) for c in synth["classes"]] != classes:
            raise ValueError(f"{sm.input.synthetic[0]}: classes {list(synth['classes'])} differ from the real set's {classes}")
        synth_x, synth_y = synth["images"], synth["labels"]
    elif fraction > 0:
        raise ValueError(f"source {source!r} has no synthetic images but fraction is {fraction}")
    x, y, is_synth = mix_training_set(real["images"], real["labels"], synth_x, synth_y, fraction, seed)
    val_x, val_y, _ = load_prepared(sm.input.data, "val")
    test_x, test_y, _ = load_prepared(sm.input.data, "test")

    set_threads(sm.threads)
    seed_everything(seed, deterministic=bool(sm.config.get("deterministic", True)))
    device = resolve_device(sm.config.get("device", "auto"))
    print(f"classifier {source} f={fraction:g} seed={seed}: {len(x)} training images ({int(is_synth.sum())} synthetic), device {device}")
    model, history = train_classifier(x, y, val_x, val_y, len(classes), settings, device, seed, progress=True)
    probs = predict_proba(model, test_x, device)
    metrics, confusion = evaluate(probs, test_y, classes, sm.params.positive_class)
    counts = {f"n_train_{c}": int((y == k).sum()) for k, c in enumerate(classes)}
    counts.update({f"n_synthetic_{c}": int(((y == k) & is_synth).sum()) for k, c in enumerate(classes)})
    record = {
        "source": source,
        "fraction": fraction,
        "seed": seed,
        "n_train": int(len(x)),
        "n_synthetic": int(is_synth.sum()),
        **counts,
        **{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in metrics.items()},
        "selected_epoch": int(history.loc[history["selected"], "epoch"].iloc[0]),
        "confusion": np.asarray(confusion).tolist(),
        "classes": classes,
    }
    save_dataframe(sm.output.predictions, predictions_frame(probs, test_y, classes))
    save_dataframe(sm.output.history, history)
    plot_confusion(confusion, classes, sm.output.confusion, title=f"{source}, f={fraction:g}, seed {seed}")
    write_json(sm.output.metrics, record)
    print({k: record[k] for k in ("auc", "accuracy", "balanced_accuracy", "sensitivity", "specificity") if k in record})


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
