"""GAN tables and figures for results/report (rule gan_report)."""

from pathlib import Path

from ganaug.runtime import run_script


def main(sm):
    from ganaug import report

    scores = report.gan_scores_table(sm.input.metrics, minority_class=sm.params.minority_class)
    keys = [(gan, rep) for gan in sm.params.gans for rep in sm.params.replicates]  # as gan_replicate_files
    training = report.gan_training_table(dict(zip(keys, sm.input.selections)), sm.params.classes)
    scores = report.merge_training_status(scores, training)
    scores = report.merge_domain(scores, report.domain_table(sm.input.domain))
    scores = report.add_quality(scores, sm.params.quality)
    report.write_table(
        scores,
        sm.output.csv,
        sm.output.md,
        title="GAN scores",
        md_columns=report.GAN_MD_COLUMNS,
        note="Headline columns; gan_scores.csv has every metric (KID std, PR k, 1-NN per side, memorisation "
        "distances, full-reference scores, the FID on every extracted image: fid_full). fid and fid_floor "
        "(real train vs real test of the class) are both at fid_n images per side (the smallest of "
        "metrics.fid.n and the generated, train and test images at hand; larger sides subsampled, averaged over "
        "seeded draws), so fid_ratio = fid / fid_floor compares like with like; fid_inf and fid_inf_floor: "
        "FID extrapolated to infinitely many images (Chong & Forsyth 2020); kid_floor: KID of train vs test. "
        "One row per GAN x generator replicate x class (replicate r: trained with seed gan.seed + 1000 r). "
        "See docs/metrics.md. status: ok or diverged (training stopped at a non-finite loss). "
        "domain_*, class_agreement and classifier_score use a classifier trained on the real data "
        "(results/metrics/domain/classifier.json): domain FID on its penultimate features, the share of "
        "generated images it assigns to the intended class, and exp E[KL(p(y|x) || p(y))] per GAN "
        "(1 = no class information, the number of classes = confident and balanced; real test images: "
        "classifier_score_real). Inception Score is not offered: ImageNet classes mean nothing on these images. "
        "quality: usable / weak / failed from fid_ratio (matched FID over the matched floor) and precision / "
        "recall (thresholds: config metrics.quality); a cell fed by a failed generator says nothing about GAN "
        "augmentation.",
    )
    # results/gan/{gan}/rep{r}/{part}/losses.csv -> "gan/part" (one replicate)
    curves = {f"{Path(p).parents[2].name}/{Path(p).parent.name}": p for p in sm.input.losses}
    report.plot_loss_curves(curves, sm.output.losses)
    fid_curves = {f"{Path(p).parents[2].name}/{Path(p).parent.name}": p for p in sm.input.curves}
    report.plot_fid_curves(fid_curves, sm.output.fid_curves)
    for gan, samples, out in zip(sm.params.gans, sm.input.samples, sm.output.grids):
        report.plot_sample_grid(
            samples,
            out,
            title=f"{gan} (generator replicate {sm.params.replicates[0]}): real vs generated, per class",
            real_npz=sm.input.real,
        )
    print(scores.to_string())


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
