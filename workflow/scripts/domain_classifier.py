"""Train the domain classifier on the real training set and score the real reference sets (rule domain_classifier).

The classifier is the experiment's classifier (arch, width, pretrained, input size,
freeze, batch size, lr, weight decay of config ``classifier``) trained for ``metrics.domain.epochs`` on the real
training set (results/data/real_train.npz), selected on the validation split. Its
penultimate features define the domain FID (see :mod:`ganaug.metrics.domain`). The work is
:func:`ganaug.metrics.domain.fit_domain_classifier`; this script maps the rule's inputs,
outputs, params and config onto it.
"""

from ganaug.runtime import run_script


def main(sm):
    from ganaug.metrics.domain import FIT_OUTPUTS, fit_domain_classifier

    info = fit_domain_classifier(
        {name: getattr(sm.output, name) for name in FIT_OUTPUTS},
        real=sm.input.real_train,
        data=sm.input.data,
        settings=sm.params.settings,
        seed=int(sm.params.seed),
        fid=dict(sm.params.fid),
        positive_class=sm.params.positive_class,
        device=sm.config.get("device", "auto"),
        threads=sm.threads,
        deterministic=bool(sm.config.get("deterministic", True)),
    )
    print(info)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821 - injected by Snakemake
