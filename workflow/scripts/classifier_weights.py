"""Fetch one torchvision arch's ImageNet weights into torch.hub's cache (rule classifier_weights, a localrule).

The work is :func:`ganaug.classifier.networks.fetch_weights`; the marker records
which file the classifier jobs will load.
"""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.classifier.networks import fetch_weights, imagenet_weights
    from ganaug.io import write_json

    arch = sm.wildcards.arch
    path = fetch_weights(arch)
    weights = imagenet_weights(arch)
    info = {"arch": arch, "weights": str(weights), "url": weights.url, "path": str(path)}
    write_json(sm.output[0], info)
    print(info)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
