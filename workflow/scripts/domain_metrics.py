"""Domain FID, class agreement and classifier score of one GAN's samples (rule domain_metrics)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.io import load_npz, read_json, write_json
    from ganaug.metrics.domain import domain_scores, load_domain_classifier
    from ganaug.runtime import resolve_device, set_threads

    set_threads(sm.threads)
    device = resolve_device(sm.config.get("device", "auto"))
    model, classes = load_domain_classifier(sm.input.model, device)
    samples = load_npz(sm.input.samples, required=("images", "labels", "classes"))
    if [str(c) for c in samples["classes"]] != classes:
        raise ValueError(
            f"{sm.input.samples}: classes {list(samples['classes'])} differ from the domain classifier's {classes}"
        )
    reference = load_npz(sm.input.reference)
    info = read_json(sm.input.info)
    fid = dict(sm.params.fid)
    scores = domain_scores(
        model,
        samples["images"],
        samples["labels"],
        classes,
        reference,
        n=int(fid["n"]),
        seed=int(fid["seed"]),
        device=device,
    )
    for cls, row in scores["classes"].items():
        row["domain_fid_floor"] = info["classes"][cls]["domain_fid_floor"]
    result = {
        "gan": sm.wildcards.gan,
        "replicate": int(sm.wildcards.rep),
        **scores,
        "classifier_score_real": info["classifier_score_real"],
        "domain_classifier_test_auc": info["test_auc"],
    }
    write_json(sm.output[0], result)
    print(result)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
