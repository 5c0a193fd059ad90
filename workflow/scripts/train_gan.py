"""Train one GAN job: one class of a per_class cell, or a conditional cell (rule train_gan)."""

from pathlib import Path

from ganaug.runtime import run_script


def main(sm):
    import numpy as np

    from ganaug.gan import train_gan
    from ganaug.io import load_npz
    from ganaug.runtime import resolve_device, set_threads

    settings = dict(sm.params.settings)
    classes = list(sm.params.classes)
    part, mode = sm.wildcards.part, settings["mode"]
    data = load_npz(sm.input[0], required=("images", "labels"))
    images, labels = data["images"], data["labels"].astype(np.int64)
    seed = int(settings["seed"])
    if mode == "per_class":
        if part not in classes:
            raise ValueError(f"GAN {sm.wildcards.gan!r} is per_class; {part!r} is not a class ({', '.join(classes)})")
        k = classes.index(part)
        images, labels = images[labels == k], labels[labels == k]
        seed += k  # each class's GAN gets its own stream
        if len(images) == 0:
            raise ValueError(f"{sm.input[0]}: no training images of class {part!r}")
    elif part != "conditional":
        raise ValueError(f"GAN {sm.wildcards.gan!r} is conditional; its only job is 'conditional', not {part!r}")

    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    print(f"GAN {sm.wildcards.gan}/{part}: {len(images)} images, mode {mode}, device {device}, threads {sm.threads}")
    import os  # the GPU the scheduler granted (SLURM sets these in the job), for the log
    print("job environment:", *(f"{k}={os.environ.get(k)}" for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS")))
    summary = train_gan(
        images,
        labels,
        num_classes=len(classes),
        cfg=settings,
        out_dir=Path(sm.output.checkpoint).parent,
        device=device,
        seed=seed,
        mode=mode,
        class_names=classes,
        progress=True,
    )
    if summary["status"] == "diverged":
        # the job still succeeds: outputs hold the last good checkpoint and status.json says what
        # happened, so the report can mark the cell instead of the whole workflow stopping
        print(f"WARNING: {sm.wildcards.gan}/{part} diverged; see {sm.output.status}")
    print(f"done: {summary}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
