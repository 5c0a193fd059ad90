"""Score the reader-study answer files (rule reader_study_report): per reader and pooled accuracy with an
exact CI and a binomial test, sensitivity / specificity of spotting synthetic images, reader AUC, Fleiss'
kappa, time per image. A bad file is skipped with one line (here and in the table); partial readers are
listed, not scored."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.reader_study import write_scores

    out = {k: sm.output[k] for k in ("csv", "md", "figure", "summary")}
    table = write_scores(list(sm.input.answers), sm.input.key, sm.params.answers_dir, out)
    if not len(sm.input.answers):
        print(f"no answer files in {sm.params.answers_dir}/ yet: put the CSVs the readers downloaded there")
    print(table.drop(columns=["files", "note"]).to_string())


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
