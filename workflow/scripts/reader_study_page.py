"""The reader-study page and its key (rule reader_study_page): N real (validation split) and N generated
images per class, shuffled by the recorded seed, under opaque ids; which id is real is only in key.csv."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.reader_study import write_study

    settings = dict(sm.params.study)
    key = write_study(sm.input.real, sm.input.samples, settings, sm.params.dataset, sm.output.html, sm.output.key)
    counts = key.groupby(["class", "source"]).size()
    print(
        f"reader study {key['study_id'].iloc[0]}: {len(key)} images ("
        + ", ".join(f"{n} {src} {cls}" for (cls, src), n in counts.items())
        + f"), shown at {settings['display_size']} px ({settings['upscale']}), seed {settings['seed']}"
        f" -> {sm.output.html}"
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
