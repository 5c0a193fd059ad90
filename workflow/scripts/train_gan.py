"""Train one GAN job: one class of a per_class cell, or a conditional cell (rule train_gan)."""

import os
from pathlib import Path

from ganaug.runtime import run_script


def main(sm):
    import numpy as np

    from ganaug.gan import train_gan
    from ganaug.gan.train import job_inputs
    from ganaug.gan.transfer import finetune_settings
    from ganaug.io import load_npz
    from ganaug.runtime import resolve_device, set_threads

    settings = dict(sm.params.settings)
    if "transfer" in settings:  # fine-tune the shared all-classes GAN (rule pretrain_gan)
        settings = finetune_settings(settings, sm.input.base)
        print(f"starting from {sm.input.base}; D's first {settings['freeze_d']} stage(s) frozen (FreezeD)")
    classes = list(sm.params.classes)
    part, mode, gan = sm.wildcards.part, settings["mode"], sm.wildcards.gan
    data = load_npz(sm.input.data, required=("images", "labels"))
    images, labels = data["images"], data["labels"].astype(np.int64)
    images, labels, seed = job_inputs(images, labels, classes, mode, part, int(settings["seed"]), gan, sm.input.data)

    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    print(
        f"GAN {gan}/{part}, generator replicate {sm.wildcards.rep}: {len(images)} images, mode {mode}, seed {seed}, "
        f"device {device}, threads {sm.threads}"
    )
    gpu_vars = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS")
    print("job environment:", *(f"{k}={os.environ.get(k)}" for k in gpu_vars))  # the GPU the scheduler granted
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
        print(f"WARNING: {gan}/{part} diverged; see {sm.output.status}")
    print(f"done: {summary}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
