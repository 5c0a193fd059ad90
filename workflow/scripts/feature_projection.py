"""2-D projection (PCA) of real vs synthetic Inception features, per GAN (rule feature_projection)."""

from pathlib import Path

from ganaug.runtime import run_script


def main(sm):
    from ganaug.metrics import load_stats
    from ganaug.report import plot_feature_projection

    classes = list(sm.params.classes)
    real = {cls: load_stats(path, require_features=True)["features"] for cls, path in zip(classes, sm.input.real)}
    generated = {gan: {} for gan in sm.params.gans}
    # results/metrics/gan/{gan}/rep{r}/{cls}_stats.npz of one replicate, the classes each GAN generates
    for path in map(Path, sm.input.generated):
        cls = path.name.removesuffix("_stats.npz")
        generated[path.parent.parent.name][cls] = load_stats(path, require_features=True)["features"]
    plot_feature_projection(real, generated, sm.output[0])
    print(
        f"projected {sum(len(f) for f in real.values())} real and "
        f"{sum(len(f) for g in generated.values() for f in g.values())} generated feature vectors"
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
