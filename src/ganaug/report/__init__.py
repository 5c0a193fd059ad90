"""Aggregation of per-job results into the tables and figures of ``results/report/``.

* :mod:`~ganaug.report.tables` - the GAN and classifier tables (per-job JSON files -> DataFrames) and their merges;
* :mod:`~ganaug.report.markdown` - their CSV and Markdown files;
* :mod:`~ganaug.report.figures` - the aggregate figures (per-job figures live with their computation, see there);
* :mod:`~ganaug.report.curves` - the figures ``summary.html`` leads with: ROC / precision-recall of the primary
  comparison and the forest plot of every comparison;
* :mod:`~ganaug.report.verdict` - the verdict in words (``summary.md``), from the tables.

The report layer reads what the other packages wrote and may import them
(:mod:`ganaug.names`, :mod:`ganaug.stats`, :mod:`ganaug.metrics`); they never
import it. Every public name is re-exported here: ``from ganaug.report import
gan_scores_table``.
"""

from ganaug.report.curves import (
    ReportFigure,
    cell_key,
    cell_label,
    forest_rows,
    plot_forest,
    plot_primary_curves,
    precision_at,
    primary_of,
    tpr_at,
)
from ganaug.report.figures import (
    figure_metrics,
    plot_delta_vs_n_real,
    plot_feature_projection,
    plot_fid_curves,
    plot_loss_curves,
    plot_metrics_vs_fraction,
    plot_sample_grid,
)
from ganaug.report.markdown import write_paired, write_summary, write_table
from ganaug.report.tables import (
    DOMAIN_COLUMNS,
    GAN_COLUMNS,
    GAN_MD_COLUMNS,
    PAIRED_COLUMNS,
    PRIMARY_METRIC,
    RUN_KEYS,
    VARIANCE_SOURCES,
    add_quality,
    choose_primary,
    classifier_runs_table,
    detectable_difference,
    domain_table,
    gan_scores_table,
    gan_training_table,
    generator_quality,
    merge_domain,
    merge_training_status,
    missing_reference,
    n_real_sort_key,
    paired_differences,
    paired_metrics,
    quality_verdict,
    summarise_runs,
    summary_metrics,
    with_low_data,
)
from ganaug.report.verdict import VerdictSettings, figure_data_uri, summary_html, summary_text

__all__ = [
    "DOMAIN_COLUMNS",
    "GAN_COLUMNS",
    "GAN_MD_COLUMNS",
    "PAIRED_COLUMNS",
    "PRIMARY_METRIC",
    "RUN_KEYS",
    "ReportFigure",
    "VARIANCE_SOURCES",
    "VerdictSettings",
    "add_quality",
    "cell_key",
    "cell_label",
    "choose_primary",
    "classifier_runs_table",
    "detectable_difference",
    "domain_table",
    "figure_data_uri",
    "figure_metrics",
    "forest_rows",
    "gan_scores_table",
    "gan_training_table",
    "generator_quality",
    "with_low_data",
    "merge_domain",
    "merge_training_status",
    "missing_reference",
    "n_real_sort_key",
    "paired_differences",
    "paired_metrics",
    "plot_delta_vs_n_real",
    "plot_feature_projection",
    "plot_fid_curves",
    "plot_forest",
    "plot_loss_curves",
    "plot_metrics_vs_fraction",
    "plot_primary_curves",
    "primary_of",
    "plot_sample_grid",
    "precision_at",
    "quality_verdict",
    "summarise_runs",
    "summary_html",
    "summary_metrics",
    "summary_text",
    "tpr_at",
    "write_paired",
    "write_summary",
    "write_table",
]
