"""Generate N images per class from a trained GAN cell (rule generate)."""

from pathlib import Path

from ganaug.runtime import run_script


def main(sm):
    import numpy as np

    from ganaug.gan import generate_samples, make_class_grid
    from ganaug.io import save_image, save_npz
    from ganaug.runtime import resolve_device, set_threads

    classes = list(sm.params.classes)
    mode = sm.params.mode
    if mode == "per_class":
        checkpoints = {Path(p).parent.name: p for p in sm.input}
    else:
        checkpoints = sm.input[0]
    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    images, labels = generate_samples(
        checkpoints, mode, classes, int(sm.params.n_per_class), int(sm.params.seed), device
    )
    save_npz(sm.output.samples, {"images": images, "labels": labels.astype(np.int64), "classes": np.array(classes)})
    save_image(sm.output.grid, make_class_grid(images, labels, len(classes), per_row=8))
    print(f"generated {len(images)} images ({sm.params.n_per_class} per class) -> {sm.output.samples}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
