"""How the prepared splits share groups (patients), as a report table (rule split_groups)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.data.groups import manifest_overlap
    from ganaug.io import save_dataframe

    table = manifest_overlap(sm.input[0])
    save_dataframe(sm.output[0], table)
    for row in table.itertuples():
        print(f"{row.split_a} / {row.split_b}: groups {row.groups_a} / {row.groups_b}, shared {row.shared_groups} "
              f"({row.images_a} / {row.images_b} images) - {row.note}")  # fmt: skip


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
