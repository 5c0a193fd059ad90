"""Every generative metric of one GAN × class (rule gan_metrics): FID, KID, precision/recall,
the 1-NN test, memorisation, full-reference scores, MS-SSIM diversity and the mode-collapse
flag, all computed by :func:`ganaug.metrics.evaluate.evaluate_gan`."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.metrics.evaluate import SETTINGS, evaluate_gan
    from ganaug.runtime import resolve_device, set_threads

    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    result = evaluate_gan(
        dict(sm.input.items()),
        dict(sm.output.items()),
        gan=sm.wildcards.gan,
        replicate=int(sm.wildcards.rep),
        cls=sm.wildcards.cls,
        model=sm.params.model,
        mode=sm.params.mode,
        settings={name: sm.params[name] for name in SETTINGS},
        collapse_margin=sm.params.collapse_margin,
        device=device,
        batch_size=int(sm.config["metrics"]["fid"]["batch_size"]),
    )
    print({k: v for k, v in result.items() if k != "memorisation"})


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
