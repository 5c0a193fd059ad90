"""Download a MedMNIST npz and check its md5 (rule download_dataset)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.data import download

    path = download(sm.params.url, sm.output[0], sm.params.md5)
    print(f"downloaded {sm.params.url} -> {path}")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
