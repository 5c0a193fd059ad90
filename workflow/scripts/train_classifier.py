"""Train and evaluate one classifier run: baseline × source × strategy × fraction × n_real × seed (rule train_classifier)."""

from ganaug.runtime import run_script


def main(sm):
    import numpy as np

    from ganaug.classifier import (
        baseline_options,
        evaluate,
        limit_class,
        mix_training_set,
        plot_confusion,
        predict_proba,
        predictions_frame,
        train_classifier,
    )
    from ganaug.config import NO_MIXING
    from ganaug.data import load_prepared
    from ganaug.io import load_npz, save_dataframe, write_json
    from ganaug.runtime import resolve_amp, resolve_device, seed_everything, set_threads
    from ganaug.stats import bootstrap_auc_ci

    wc = sm.wildcards
    baseline, source, strategy = wc.baseline, wc.source, wc.strategy
    fraction, seed, n_real = float(wc.frac), int(wc.seed), wc.nreal
    if (source == "real") != (strategy == NO_MIXING) or (source == "real") != (fraction == 0.0):
        raise ValueError(
            f"inconsistent cell {baseline}/{source}/{strategy}/f{wc.frac}: real-only runs are source 'real', "
            f"strategy '{NO_MIXING}', fraction 0; runs with synthetic images name a GAN, a strategy and a fraction > 0"
        )
    settings = dict(sm.params.settings)
    real = load_npz(sm.input.real, required=("images", "labels", "classes"))
    classes = [str(c) for c in real["classes"]]
    real_x, real_y = real["images"], real["labels"].astype(np.int64)
    n_real_class = sm.params.n_real_class
    if n_real != "all":
        k = classes.index(n_real_class)
        available = int((real_y == k).sum())
        real_x, real_y, _ = limit_class(real_x, real_y, k, int(n_real), seed)
        if int(n_real) > available:
            print(f"n_real {n_real} > the {available} real {n_real_class} images: all are used")
    synth_x = synth_y = None
    if sm.input.synthetic:
        synth = load_npz(sm.input.synthetic[0], required=("images", "labels", "classes"))
        if [str(c) for c in synth["classes"]] != classes:
            raise ValueError(f"{sm.input.synthetic[0]}: classes {list(synth['classes'])} differ from the real set's {classes}")
        synth_x, synth_y = synth["images"], synth["labels"]
    x, y, is_synth = mix_training_set(
        real_x, real_y, synth_x, synth_y, fraction, seed, strategy="replace" if strategy == NO_MIXING else strategy
    )
    val_x, val_y, _ = load_prepared(sm.input.data, "val")
    test_x, test_y, _ = load_prepared(sm.input.data, "test")

    set_threads(sm.threads)
    seed_everything(seed, deterministic=bool(sm.config.get("deterministic", True)))
    device = resolve_device(sm.config.get("device", "auto"))
    options = baseline_options(baseline, y, len(classes))
    print(
        f"classifier {baseline}/{source}/{strategy} f={fraction:g} n_real={n_real} seed={seed}: {len(x)} training images "
        f"({int(is_synth.sum())} synthetic), per class {np.bincount(y, minlength=len(classes)).tolist()}, "
        f"baseline options {options}, device {device}"
    )
    model, history = train_classifier(x, y, val_x, val_y, len(classes), settings, device, seed, progress=True, **options)
    probs = predict_proba(model, test_x, device, amp=settings["amp"])
    metrics, confusion = evaluate(probs, test_y, classes, sm.params.positive_class)
    boot = dict(sm.params.bootstrap)
    pos = classes.index(sm.params.positive_class) if len(classes) == 2 else None
    ci_low, ci_high = bootstrap_auc_ci(
        probs, test_y, n_boot=int(boot["n"]), level=float(boot["level"]), seed=int(boot["seed"]), positive_index=pos
    )
    counts = {f"n_train_{c}": int((y == k).sum()) for k, c in enumerate(classes)}
    counts.update({f"n_synthetic_{c}": int(((y == k) & is_synth).sum()) for k, c in enumerate(classes)})
    counts.update({f"n_real_{c}": int(((y == k) & ~is_synth).sum()) for k, c in enumerate(classes)})
    record = {
        "baseline": baseline,
        "source": source,
        "strategy": strategy,
        "fraction": fraction,
        "n_real": n_real,
        "seed": seed,
        "n_train": int(len(x)),
        "n_synthetic": int(is_synth.sum()),
        **counts,
        **{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in metrics.items()},
        "auc_ci_low": ci_low,
        "auc_ci_high": ci_high,
        "auc_ci_level": float(boot["level"]),
        "auc_ci_bootstrap_n": int(boot["n"]),
        "selected_epoch": int(history.loc[history["selected"], "epoch"].iloc[0]),
        "amp": resolve_amp(settings["amp"], device),
        "device": str(device),
        "confusion": np.asarray(confusion).tolist(),
        "classes": classes,
    }
    save_dataframe(sm.output.predictions, predictions_frame(probs, test_y, classes))
    save_dataframe(sm.output.history, history)
    title = f"{baseline}, {source} {strategy}, f={fraction:g}, n_real={n_real}, seed {seed}"
    plot_confusion(confusion, classes, sm.output.confusion, title=title)
    write_json(sm.output.metrics, record)
    print({k: record[k] for k in ("auc", "auc_ci_low", "auc_ci_high", "balanced_accuracy", "sensitivity", "specificity")})


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
