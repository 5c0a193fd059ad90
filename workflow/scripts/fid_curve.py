"""FID of every checkpoint of one GAN training job, against the cached real statistics (rule fid_curve)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.gan.selection import fid_curve, plot_fid_curve, select_step
    from ganaug.io import save_dataframe
    from ganaug.metrics import load_stats
    from ganaug.runtime import resolve_device, set_threads

    classes = list(sm.params.classes)
    stats = {cls: load_stats(path) for cls, path in zip(classes, sm.input.stats)}
    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    curve = fid_curve(
        sm.input.snapshots,
        stats,
        n=int(sm.params.curve["n"]),
        seed=int(sm.params.curve["seed"]),
        device=device,
        batch_size=int(sm.config["metrics"]["fid"]["batch_size"]),
    )
    save_dataframe(sm.output.csv, curve)
    best = select_step(curve, "best_fid")
    plot_fid_curve(curve, sm.output.figure, f"{sm.wildcards.gan} / {sm.wildcards.part}: FID per checkpoint", best)
    print(curve.to_string(index=False))
    print(f"lowest FID at step {best}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
