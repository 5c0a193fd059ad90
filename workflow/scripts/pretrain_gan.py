"""Train a transfer cell's shared GAN on every class's training images as one class (rule pretrain_gan)."""

from pathlib import Path

from ganaug.runtime import run_script


def main(sm):
    import numpy as np

    from ganaug.gan import train_gan
    from ganaug.gan.transfer import BASE_CLASS
    from ganaug.io import load_npz
    from ganaug.runtime import resolve_device, set_threads

    settings = dict(sm.params.settings)  # pretrain_settings: what the shared GAN reads
    images = load_npz(sm.input[0], required=("images", "labels"))["images"]
    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    print(f"GAN {sm.wildcards.gan}/transfer/base: {len(images)} images of every class, device {device}")
    summary = train_gan(
        images,
        np.zeros(len(images), np.int64),
        num_classes=1,
        cfg=settings,
        out_dir=Path(sm.output.checkpoint).parent,
        device=device,
        seed=int(settings["seed"]),
        mode="per_class",
        class_names=[BASE_CLASS],
        progress=True,
    )
    if summary["status"] == "diverged":
        print(f"WARNING: the shared GAN of {sm.wildcards.gan} diverged; its classes start from its last good state")
    print(f"done: {summary}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
