"""List the image files the data stage skipped (on_bad_image: skip) as a report table (rule skipped_images)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.data import skipped_images
    from ganaug.io import save_dataframe

    table = skipped_images(sm.input[0])
    save_dataframe(sm.output[0], table)
    print(
        f"{len(table)} skipped image file(s)" + "".join(f"\n  {f}: {r}" for f, r in zip(table["file"], table["reason"]))
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
