"""Decode, convert, resize and split a dataset into the cached npz + manifest (rule prepare_dataset)."""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.data import prepare_dataset

    summary = prepare_dataset(
        spec=dict(sm.params.spec),
        resolution=int(sm.wildcards.res),
        channels=int(sm.wildcards.ch),
        split_cfg=dict(sm.params.split),
        out_npz=sm.output.npz,
        out_manifest=sm.output.manifest,
        on_bad_image=sm.params.on_bad_image,
        progress=True,
        # window / resize / pad_value / multiframe: only those that differ from the defaults are params
        **dict(getattr(sm.params, "image", None) or {}),
    )
    for split, counts in summary.items():
        print(f"{split}: " + ", ".join(f"{cls}={n}" for cls, n in counts.items()))


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
