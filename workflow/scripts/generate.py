"""Generate N images per class from a trained GAN cell's selected checkpoint (rule generate)."""

from pathlib import Path

from ganaug.runtime import run_script


def main(sm):
    import numpy as np
    import pandas as pd

    from ganaug.gan import generate_samples, make_class_grid
    from ganaug.gan.selection import select_step
    from ganaug.io import read_json, save_image, save_npz, write_json
    from ganaug.runtime import resolve_device, set_threads

    classes = list(sm.params.classes)
    mode, select = sm.params.mode, sm.params.select
    parts = [Path(p).parent.name for p in sm.input.snapshots]
    selection = {}
    for part, snap, curve_path in zip(parts, sm.input.snapshots, sm.input.curves):
        curve = pd.read_csv(curve_path)
        step = select_step(curve, select)
        status = read_json(Path(snap).parent / "status.json")
        at = curve[curve["step"] == step]
        selection[part] = {
            "step": step,
            "select": select,
            "fid_curve": float(at["fid"].mean()),
            "status": status["status"],
            "message": status.get("message", ""),
        }
        print(
            f"{sm.wildcards.gan}/{part}: select={select} -> step {step} (curve FID {selection[part]['fid_curve']:.1f})"
        )
    if mode == "per_class":
        checkpoints = dict(zip(parts, sm.input.snapshots))
        steps = {part: selection[part]["step"] for part in parts}
    else:
        checkpoints, steps = sm.input.snapshots[0], selection[parts[0]]["step"]
    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    images, labels = generate_samples(
        checkpoints, mode, classes, int(sm.params.n_per_class), int(sm.params.seed), device, steps=steps
    )
    save_npz(sm.output.samples, {"images": images, "labels": labels.astype(np.int64), "classes": np.array(classes)})
    save_image(sm.output.grid, make_class_grid(images, labels, len(classes), per_row=8))
    write_json(sm.output.selection, selection)
    print(f"generated {len(images)} images ({sm.params.n_per_class} per class) -> {sm.output.samples}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
